"""Entry point of ``fav``: builds the sub-command parsers and turns typed errors into one-line messages.

Core sub-commands are listed in ``CORE_COMMANDS``; packages that depend on the core (``training``, the GUI) add
theirs through the ``fav.commands`` entry-point group, so the dependency arrows keep pointing into the core.
"""
from __future__ import annotations

import argparse
import logging
import signal
import sys
from importlib import import_module
from importlib.metadata import entry_points

from fav_core.cli.signals import HeldSignals, Terminated, import_native_modules
from fav_core.errors import Cancelled, FavError

CORE_COMMANDS = (
    "fav_core.cli.stylize",
    "fav_core.cli.stylize_360",
    "fav_core.cli.flow",
    "fav_core.cli.models",
    "fav_core.cli.evaluate",
    "fav_core.cli.compare",
    "fav_core.cli.import_t7",
    "fav_core.cli.farm",
)

EXIT_ERROR = 2
EXIT_CANCELLED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fav",
        description="Temporally consistent neural style transfer for video (Ruder, Dosovitskiy & Brox 2018).",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output on stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in CORE_COMMANDS:
        try:
            module = import_module(name)
        except ModuleNotFoundError as exc:  # a sub-command that is not built yet must not break the others
            if exc.name != name:
                raise
            continue
        module.add_parser(sub)
    core = set(sub.choices)
    for ep in entry_points(group="fav.commands"):
        ep.load()(sub)
    for name in set(sub.choices) - core:  # other packages' commands (the GUI's event loop ...) keep SIGTERM's default
        sub.choices[name].set_defaults(fav_default_sigterm=True)
    for command in sub.choices.values():  # `fav stylize IN -o OUT -v` works as well as `fav -v stylize ...`
        try:
            command.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                                 help="more log output on stderr (-vv: debug)")
        except argparse.ArgumentError:  # the command has its own -v
            continue
    return parser


def console() -> int:
    """The ``fav`` console script and ``python -m fav_core.cli``: tune this process's allocator for big CPU
    tensors (fav_core.process_memory; only here, never when a host imports the CLI in-process), then run.

    A Ctrl-C or SIGTERM at any moment, even while torch is still being imported, ends with ``fav: cancelled`` and
    exit code 130 (the job protocol's), never a traceback, an abort or a silent death by the signal: signals are
    held until a safe point (:mod:`fav_core.cli.signals`); before a job's first frame nothing is written.
    """
    held = HeldSignals.install()
    try:
        from fav_core.process_memory import tune_process

        tune_process()
        return main()
    except (KeyboardInterrupt, Terminated):
        print("fav: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    finally:
        if held is not None:  # the work is over: a late signal must not turn a finished run into a killed one
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _deliver_held_signals(args: argparse.Namespace) -> None:
    """Under :func:`console`: import the native modules with signals still held, then stop holding — except for
    jobs that take held signals over as a cancel (``fav_takes_signals``)."""
    held = HeldSignals.current()
    if held is None:
        return
    default_sigterm = bool(getattr(args, "fav_default_sigterm", False))
    if default_sigterm:  # commands of other packages (the GUI, training) keep SIGTERM's default action
        held.release(default_sigterm=True)
        return
    import_native_modules()
    if not getattr(args, "fav_takes_signals", False):
        held.release()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="fav: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        _deliver_held_signals(args)
        return int(args.func(args) or 0)
    except Cancelled as exc:
        print(f"fav: cancelled: {exc}", file=sys.stderr)
        return EXIT_CANCELLED
    except (KeyboardInterrupt, Terminated):
        print("fav: cancelled", file=sys.stderr)
        return EXIT_CANCELLED
    except FavError as exc:
        print(f"fav: error: {exc}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
