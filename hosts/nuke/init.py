"""Nuke start-up (every mode: GUI, -t, -x, farm): make ``fav_core`` importable when run from a checkout.

Add ``hosts/nuke`` to NUKE_PATH (Nuke puts it on sys.path, so ``fav_nuke`` imports). This file must never break
Nuke's start-up: any failure is printed to stderr and ignored. The torch core runs in its own Python (see
fav_nuke.render), never inside Nuke.
"""
import os
import sys
import traceback

try:
    import fav_nuke

    _pkg = os.path.dirname(os.path.abspath(fav_nuke.__file__))  # <root>/hosts/nuke/fav_nuke
    _root = os.path.dirname(os.path.dirname(os.path.dirname(_pkg)))
    if os.path.isfile(os.path.join(_root, "fav_core", "errors.py")) and _root not in sys.path:
        sys.path.append(_root)
except Exception:  # noqa: BLE001 - start-up must survive anything
    traceback.print_exc()
