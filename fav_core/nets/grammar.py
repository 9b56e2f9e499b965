"""Architecture strings of the transformation network (algorithm.md §3.1).

A comma-separated list of tokens, e.g. ``c9s1-32,d64,d128,R128,R128,R128,R128,R128,U2,c3s1-64,U2,c9s1-3``:

========  =================================================================================
token     meaning
========  =================================================================================
cXsY-Z    convolution, kernel X×X, stride Y, Z output channels, padding (X-1)/2
fXsY-Z    transposed ("full") convolution, kernel X, stride Y, padding (X-1)/2, output adj. Y-1
dZ        convolution 3×3, stride 2, zero padding 1, Z channels (downsampling)
uZ        transposed convolution 3×3, stride 2, padding 1, output adj. 1 (exact 2× upsampling)
UX        nearest-neighbour upsampling by the integer factor X, channels unchanged
RZ        residual block with Z channels in and out
CZ        the residual block's two-conv body without the skip connection (followed by ReLU)
========  =================================================================================

The reference reads kernel and stride as single characters; we accept any number of digits with the
same meaning (``c11s1-3`` is an 11×11 convolution). Kernels must be odd so that "(X-1)/2" padding keeps
the size, as in every architecture the reference ships.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from fav_core.errors import ConfigError

#: Layer kinds, in the order of the table above.
TOKEN_KINDS: tuple[str, ...] = ("c", "f", "d", "u", "U", "R", "C")

# ASCII digits only: ``\d`` would also take e.g. fullwidth "９", which int() reads as 9.
_CONV_RE = re.compile(r"([cf])(\d+)s(\d+)-(\d+)", re.ASCII)
_SIMPLE_RE = re.compile(r"([duURC])(\d+)", re.ASCII)
_FORMS = {
    "c": "cXsY-Z",
    "f": "fXsY-Z",
    "d": "dZ",
    "u": "uZ",
    "U": "UX",
    "R": "RZ",
    "C": "CZ",
}


@dataclass(frozen=True)
class Token:
    """One parsed layer token.

    Attributes:
        kind: one of ``c f d u U R C``.
        text: the token as written (whitespace stripped).
        index: 1-based position in the arch string (used in error messages).
        kernel: kernel size (``c``/``f``: X; ``d``/``u``/``R``/``C``: 3; ``U``: 0, no kernel).
        stride: stride (``c``/``f``: Y; ``d``/``u``: 2; otherwise 1).
        channels: output channels Z, or None for ``U`` (keeps its input's channels).
        factor: upsampling factor of ``U`` (1 for every other kind).
    """

    kind: str
    text: str
    index: int
    kernel: int
    stride: int
    channels: int | None
    factor: int = 1


def _fail(text: str, index: int, problem: str) -> ConfigError:
    return ConfigError(f"arch token {text!r} (#{index}): {problem}")


def _parse_token(text: str, index: int) -> Token:
    if not text:
        raise _fail(text, index, "empty token (two commas in a row or a trailing comma?)")
    kind = text[0]
    if kind not in _FORMS:
        raise _fail(text, index, f"unknown layer type {kind!r}; expected one of {', '.join(TOKEN_KINDS)}")
    if kind in ("c", "f"):
        m = _CONV_RE.fullmatch(text)
        if m is None:
            raise _fail(text, index, f"expected {_FORMS[kind]}")
        kernel, stride, channels = int(m.group(2)), int(m.group(3)), int(m.group(4))
        if kernel < 1 or kernel % 2 == 0:
            raise _fail(text, index, f"kernel size must be odd and >= 1, got {kernel}")
        if stride < 1:
            raise _fail(text, index, f"stride must be >= 1, got {stride}")
        if channels < 1:
            raise _fail(text, index, f"channel count must be >= 1, got {channels}")
        return Token(kind, text, index, kernel, stride, channels)
    m = _SIMPLE_RE.fullmatch(text)
    if m is None:
        raise _fail(text, index, f"expected {_FORMS[kind]}")
    value = int(m.group(2))
    if kind == "U":
        if value < 1:
            raise _fail(text, index, f"upsampling factor must be >= 1, got {value}")
        return Token(kind, text, index, kernel=0, stride=1, channels=None, factor=value)
    if value < 1:
        raise _fail(text, index, f"channel count must be >= 1, got {value}")
    stride = 2 if kind in ("d", "u") else 1
    return Token(kind, text, index, kernel=3, stride=stride, channels=value)


def parse_arch(arch: str) -> list[Token]:
    """Parse an architecture string into tokens (syntax only; channel flow is checked when building).

    Args:
        arch: comma-separated tokens, e.g. ``"c9s1-32,d64,d128,R128,U2,c9s1-3"``; spaces around tokens
            are ignored.

    Returns:
        The tokens in order.

    Raises:
        ConfigError: empty string or a malformed token, e.g.
            "arch token 'c9x1-32' (#1): expected cXsY-Z".
    """
    if not isinstance(arch, str):
        raise ConfigError(f"arch must be a string, got {type(arch).__name__}")
    if not arch.strip():
        raise ConfigError("arch is empty; expected comma-separated tokens like 'c9s1-32,d64,...,c9s1-3'")
    return [_parse_token(part.strip(), i) for i, part in enumerate(arch.split(","), start=1)]
