"""Memory budget: refuse frame sizes that cannot fit *before* anything large is allocated.

A header can claim any size (a 16K-wide frame, or a garbage 30000x30000 PNG). Decoding such a frame, or
running the network on it, would allocate gigabytes and end in an OOM kill or a deep torch traceback. The
checks here estimate what one frame needs from its size alone and compare it with the memory the system can
give now, so the user gets a one-line error before any work starts.

The estimates are deliberately rough upper bounds (within about 2x): they exist to catch the impossible, not
to plan tight fits.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fav_core.errors import ConfigError, InputError

if TYPE_CHECKING:
    from fav_core.nets.grammar import Token

log = logging.getLogger(__name__)

GIB = 1024**3
#: float32 planes one decoded frame may occupy at once (read buffer, rgb, alpha, colour-converted copies).
DECODE_FLOATS_PER_PIXEL = 16
#: float32 values per pixel the stylizer keeps besides the network (frame, prior, warped prior, fill, mask,
#: net input, flows both ways, reliability work arrays, raw and median-filtered output).
LOOP_FLOATS_PER_PIXEL = 64


def available_bytes() -> int:
    """Memory this process can still get: ``MemAvailable`` (Linux), capped by a cgroup v2 limit if any.

    Returns a very large number when nothing can be read (the checks then never refuse).
    """
    avail: int | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                avail = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        avail = None
    if avail is None:
        try:
            avail = int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):
            return 1 << 62
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text().strip())
        if limit != "max":
            avail = min(avail, max(0, int(limit) - used))
    except (OSError, ValueError):
        pass
    return avail


def device_bytes(device: str) -> int:
    """Free memory on ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"``); CPU/unknown devices use system memory."""
    if device.startswith("cuda"):
        import torch

        try:
            free, _total = torch.cuda.mem_get_info(torch.device(device))
            return int(free) + int(torch.cuda.memory_reserved(torch.device(device)))
        except (RuntimeError, AssertionError):
            return 1 << 62
    return available_bytes()


def _gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


def check_decode(path: str | Path, size: tuple[int, int]) -> None:
    """Refuse to decode a frame of ``size`` = (H, W) when its float copies cannot fit in memory.

    Raises:
        InputError: "frame.png: frame is 30000x30000; decoding it needs about 53.6 GiB, only 12.0 GiB ...".
    """
    h, w = size
    need = h * w * DECODE_FLOATS_PER_PIXEL * 4
    avail = available_bytes()
    if need > avail:
        raise InputError(
            path, f"frame is {w}x{h}; decoding it needs about {_gib(need)} of memory, only {_gib(avail)} is "
            "available (scale the frames down)"
        )


def net_bytes(arch_tokens: Sequence[Token], in_channels: int, size: tuple[int, int], bytes_per_value: int = 4) -> int:
    """Upper bound of the activation memory of one forward pass of a transformer net.

    Walks the tokens (:func:`fav_core.nets.parse_arch`) keeping the channel count and the area factor; a
    layer's peak is its input plus twice its output (conv + norm/activation), a residual block's its input plus
    three outputs. The internal reflect padding is covered by a 25% margin.

    Args:
        arch_tokens: parsed arch tokens (``kind``, ``stride``, ``channels``, ``factor``).
        in_channels: channels of the net input (3 or 7).
        size: (H, W) of the frame.
        bytes_per_value: 4 for fp32, 2 under fp16/bf16 autocast.
    """
    h, w = size
    pixels = h * w * 1.25
    channels, area, peak = float(in_channels), 1.0, 0.0
    for tok in arch_tokens:
        before = channels * area
        if tok.kind in ("c", "d"):
            area /= tok.stride**2
        elif tok.kind in ("f", "u"):
            area *= tok.stride**2
        elif tok.kind == "U":
            area *= tok.factor**2
        if tok.channels is not None:
            channels = float(tok.channels)
        after = channels * area
        layer = before + (3 if tok.kind in ("R", "C") else 2) * after
        peak = max(peak, layer)
    return int(peak * pixels * bytes_per_value)


def check_stylize(
    what: str | Path,
    size: tuple[int, int],
    arch_tokens: Sequence[Token],
    in_channels: int,
    device: str,
    bytes_per_value: int = 4,
) -> None:
    """Refuse a frame size whose stylization cannot fit in the device's free memory.

    Raises:
        ConfigError: names ``what`` (the input), the frame size, the estimate and what is free.
    """
    h, w = size
    need = net_bytes(arch_tokens, in_channels, size, bytes_per_value)
    if not device.startswith("cuda"):
        need += h * w * LOOP_FLOATS_PER_PIXEL * 4
    avail = device_bytes(device)
    log.debug("%s: %dx%d frames need about %s on %s (%s free)", what, w, h, _gib(need), device, _gib(avail))
    if need > avail:
        raise ConfigError(
            f"{what}: frames are {w}x{h}; stylizing one needs about {_gib(need)} on {device}, only "
            f"{_gib(avail)} is free (scale the frames down or use a smaller model)"
        )
