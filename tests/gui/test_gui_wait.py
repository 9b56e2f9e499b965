"""The GUI tests' event pump itself: it must not eat references to None (a crash of the test process)."""
from __future__ import annotations

import sys

from tests.gui.conftest import pump_events, wait_for


def test_pumping_events_keeps_nones_refcount(qapp: object) -> None:
    """PySide6 6.12's static QCoreApplication.processEvents drops a reference to None on every call, so a few
    thousand calls from a waiting test end in "Fatal Python error: none_dealloc"; the pump must not."""
    calls = [0]

    def ready() -> bool:
        calls[0] += 1
        return calls[0] > 20

    before = sys.getrefcount(None)
    wait_for(ready, 60, "20 pumps")
    for _ in range(3000):
        pump_events()
    assert sys.getrefcount(None) - before > -50
