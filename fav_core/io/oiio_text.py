"""OpenImageIO error text made fit for a one-line message."""

from __future__ import annotations


def oiio_message(text: str | None, default: str) -> str:
    """The first non-empty line of an OpenImageIO error (its cause; the lines after repeat it with more library
    prefixes, e.g. ``PNG read error: IDAT: ...`` then ``PNG library error``), or ``default`` when there is none."""
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()
    return default
