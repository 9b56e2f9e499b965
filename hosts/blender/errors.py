"""The one error type of the Blender host: a one-line message for ``Operator.report`` or the batch exit.

The core (``fav_core``) may not be importable inside Blender (it usually runs in its own Python), so the
host cannot rely on ``fav_core.errors``; core errors reach the host as protocol ``error`` events and are
turned into :class:`HostError` at the boundary.
"""
from __future__ import annotations


class HostError(Exception):
    """Bad input or state the artist can fix; ``str(e)`` names the strip/file/setting and the problem."""
