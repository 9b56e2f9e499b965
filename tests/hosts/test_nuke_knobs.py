"""fav_nuke.knobs: the declarative knob list, validation, and the knob -> ``fav stylize`` argument mapping."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hosts" / "nuke"))

from fav_nuke.channels import VectorChannels  # noqa: E402
from fav_nuke.knobs import KNOBS, VALUE_KNOBS, NodeSettings, settings_from_values, to_cli_args  # noqa: E402

from fav_core.errors import ConfigError  # noqa: E402
from fav_core.jobclient import stylize_command  # noqa: E402


def defaults(**over: Any) -> dict[str, Any]:
    values = {k.name: k.default for k in KNOBS if k.name in VALUE_KNOBS}
    values["model"] = "candy-video"
    values.update(over)
    return values


def test_knob_names_unique_and_defaults_valid() -> None:
    names = [k.name for k in KNOBS]
    assert len(names) == len(set(names))
    for k in KNOBS:
        if k.kind == "enum":
            assert k.default in k.choices, k.name
    s = settings_from_values(defaults())
    assert s == NodeSettings(model="candy-video")


def test_default_mapping_exact() -> None:
    args = to_cli_args(settings_from_values(defaults()), "/j/plate/plate.%04d.exr", "/j/out/s.%04d.exr")
    assert args == [
        "/j/plate/plate.%04d.exr", "-o", "/j/out/s.%04d.exr",
        "--model", "candy-video", "--flow", "pass", "--vectors", "nuke",
        "--min-filter", "7", "--median-filter", "3",
        "--device", "auto", "--precision", "auto", "--colorspace", "linear",
    ]
    assert stylize_command("py", args) == ["py", "-m", "fav_core.cli", "stylize", *args, "--progress", "json"]


def test_every_option_maps() -> None:
    s = settings_from_values(defaults(
        image_model="self", flow="DIS (computed)", min_filter=5, median_filter=1, fill="uniform-random",
        direction="backward", device="cuda", precision="fp16", resume=False,
    ))
    args = to_cli_args(s, "in.%04d.exr", "out.%04d.exr")
    assert args[args.index("--image-model") + 1] == "self"
    assert args[args.index("--flow") + 1] == "dis"
    assert "--vectors" not in args  # only with motion channels
    assert args[args.index("--min-filter") + 1] == "5"
    assert args[args.index("--median-filter") + 1] == "1"
    assert args[args.index("--fill") + 1] == "uniform-random"
    assert "--backward" in args and "--no-resume" in args
    assert args[args.index("--device") + 1] == "cuda"
    assert args[args.index("--precision") + 1] == "fp16"


def test_args_parse_with_the_real_cli() -> None:
    """The mapping produces a command line the core's own parser accepts, with the intended values."""
    stylize = pytest.importorskip("fav_core.cli.stylize")
    parser = argparse.ArgumentParser()
    stylize.add_parser(parser.add_subparsers(dest="command"))
    s = settings_from_values(defaults(fill="vgg-mean", direction="backward", resume=False))
    ns = parser.parse_args(stylize_command("py", to_cli_args(s, "in.%04d.exr", "out.%04d.exr"))[3:])
    assert (ns.input, ns.output, ns.model, ns.flow, ns.vectors) == ("in.%04d.exr", "out.%04d.exr",
                                                                    "candy-video", "pass", "nuke")
    assert (ns.min_filter, ns.median_filter, ns.fill, ns.backward, ns.no_resume) == (7, 3, "vgg-mean", True, True)
    assert (ns.colorspace, ns.progress) == ("linear", "json")


def test_channels_are_read_from_knobs() -> None:
    s = settings_from_values(defaults(backward_u="mv.bx", backward_v="mv.by", forward_u="mv.fx", forward_v="mv.fy"))
    assert s.vectors == VectorChannels("mv.bx", "mv.by", "mv.fx", "mv.fy")


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"model": "  "}, "knob model"),
        ({"flow": "optical"}, "knob flow"),
        ({"min_filter": 0}, "knob min_filter: must be >= 1"),
        ({"median_filter": 2.5}, "whole number"),
        ({"median_filter": True}, "whole number"),
        ({"device": "tpu"}, "knob device"),
        ({"backward_u": "u"}, "full channel name"),
        ({"forward_v": "backward.v"}, "more than one component"),
    ],
)
def test_bad_values_raise_config_error(over: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        settings_from_values(defaults(**over))


def test_missing_knob_says_recreate() -> None:
    values = defaults()
    del values["fill"]
    with pytest.raises(ConfigError, match="missing knob.*fill.*recreate"):
        settings_from_values(values)


def test_raft_needs_local_weights_and_passes_them() -> None:
    """The core refuses --flow raft without --raft-weights (weights are never downloaded): the node must carry them."""
    with pytest.raises(ConfigError, match="knob raft_weights: RAFT needs a local weights file"):
        settings_from_values(defaults(flow="RAFT (computed)"))
    s = settings_from_values(defaults(flow="RAFT (computed)", raft_weights=" /w/raft_large.pth "))
    args = to_cli_args(s, "in.%04d.exr", "out.%04d.exr")
    assert args[args.index("--flow") + 1: args.index("--flow") + 4] == ["raft", "--raft-weights", "/w/raft_large.pth"]
    assert "--raft-weights" not in to_cli_args(settings_from_values(defaults(raft_weights="/w/r.pth")), "i", "o")
    stylize = pytest.importorskip("fav_core.cli.stylize")
    parser = argparse.ArgumentParser()
    stylize.add_parser(parser.add_subparsers(dest="command"))
    ns = parser.parse_args(stylize_command("py", args)[3:])
    assert (ns.flow, ns.raft_weights) == ("raft", "/w/raft_large.pth")


def test_nodes_saved_before_the_raft_weights_knob_still_work() -> None:
    values = defaults()
    del values["raft_weights"]
    assert settings_from_values(values) == NodeSettings(model="candy-video")
