"""Which Nuke channels hold the motion vectors, and how they map to the core's flow convention.

Nuke's ``motion`` channel set is ``forward.u, forward.v, backward.u, backward.v`` (shared/reference/hosts.md §B2):
pixels, y **up**, vector = position in the other frame minus p. The node copies the artist's channels into these
standard names before its internal Write, so the core always reads standard names (``--vectors nuke``) and does
the sign mapping itself. In our convention (docs/architecture.md: y down, rows top-down as in an EXR file):

    backward(t) = (backward.u, -backward.v)      forward(t) = (forward.u, -forward.v)

The array functions below delegate to :mod:`fav_core.flow.convert` (imported lazily: the artist's Nuke has no
numpy requirement, only tests and tools call them).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fav_core.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

STANDARD_NAMES = ("backward.u", "backward.v", "forward.u", "forward.v")
"""The channels the core reads with ``--vectors nuke``, in :class:`VectorChannels` field order."""

_CHANNEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class VectorChannels:
    """The full Nuke channel names (``layer.channel``) that hold the four vector components.

    Attributes:
        backward_u: backward x component (pixels, x right).
        backward_v: backward y component (pixels, y up).
        forward_u: forward x component.
        forward_v: forward y component.
    """

    backward_u: str = "backward.u"
    backward_v: str = "backward.v"
    forward_u: str = "forward.u"
    forward_v: str = "forward.v"

    def names(self) -> tuple[str, str, str, str]:
        """The four source channels in :data:`STANDARD_NAMES` order."""
        return (self.backward_u, self.backward_v, self.forward_u, self.forward_v)

    def copy_pairs(self) -> list[tuple[str, str]]:
        """``(source channel, standard channel)`` for the internal Copy node, in :data:`STANDARD_NAMES` order."""
        return [(name, STANDARD_NAMES[i]) for i, name in enumerate(self.names())]


def parse_vector_channels(backward_u: str, backward_v: str, forward_u: str, forward_v: str) -> VectorChannels:
    """Validate four channel names as typed in the knobs.

    Args:
        backward_u: e.g. ``"backward.u"``; names must be full ``layer.channel`` names because Nuke's short
            names repeat (``u, v, u, v``) (hosts.md §B2).
        backward_v: backward y channel.
        forward_u: forward x channel.
        forward_v: forward y channel.

    Raises:
        ConfigError: a name is not ``layer.channel``, or one channel is used twice.
    """
    names = [str(n).strip() for n in (backward_u, backward_v, forward_u, forward_v)]
    for i, name in enumerate(names):
        knob = ("backward_u", "backward_v", "forward_u", "forward_v")[i]
        if not _CHANNEL.match(name):
            raise ConfigError(f"knob {knob}: {name!r} is not a full channel name like 'backward.u'")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"vector channels: {', '.join(repeated)} is used for more than one component")
    return VectorChannels(*names)


def missing_channels(wanted: VectorChannels, available: list[str] | tuple[str, ...]) -> list[str]:
    """The vector channels that the vectors' source does not have (Nuke would silently copy black)."""
    have = set(available)
    return [n for n in wanted.names() if n not in have]


def nuke_to_flow(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Our flow ``(H, W, 2)`` from one Nuke ``u``/``v`` pair read top-down (backward or forward alike).

    Convention:
        - input: Nuke vectors, pixels, x right, **y up**, rows top-down as stored in the EXR
        - output: float32 ``(u, -v)``: channel 0 = dx (right), channel 1 = dy (down)

    Delegates to :func:`fav_core.flow.convert.nuke_to_flow`.
    """
    from fav_core.flow.convert import nuke_to_flow as convert

    return convert(u, v)


def flow_to_nuke(flow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`nuke_to_flow`: ``(u, v)`` each ``(H, W)`` float32 from our ``(H, W, 2)`` flow.

    Convention:
        - input: dx right, dy down (docs/architecture.md)
        - output: Nuke u (x right), v (y up), rows top-down

    Delegates to :func:`fav_core.flow.convert.flow_to_nuke`.
    """
    from fav_core.flow.convert import flow_to_nuke as convert

    return convert(flow)


def flows_to_nuke_channels(flow_to_prev: np.ndarray, flow_to_next: np.ndarray,
                           channels: VectorChannels = VectorChannels()) -> dict[str, np.ndarray]:
    """Nuke vector channels (named by ``channels``) from backward and forward flow in our convention.

    Args:
        flow_to_prev: ``(H, W, 2)`` backward flow t -> t-1.
        flow_to_next: ``(H, W, 2)`` forward flow t -> t+1.
        channels: the names to store them under.

    Returns:
        channel name -> ``(H, W)`` float32, y up, rows top-down (ready to write into an EXR).
    """
    bu, bv = flow_to_nuke(flow_to_prev)
    fu, fv = flow_to_nuke(flow_to_next)
    planes = (bu, bv, fu, fv)
    return {name: planes[i] for i, name in enumerate(channels.names())}
