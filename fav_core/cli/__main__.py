"""``python -m fav_core.cli ...`` — the same as the ``fav`` console script (used by hosts out of process)."""
from __future__ import annotations

import sys

from fav_core.cli.signals import HeldSignals

HeldSignals.install()  # Ctrl-C / SIGTERM while the CLI and torch are imported: held, then a clean cancel

try:
    from fav_core.cli.main import console
except KeyboardInterrupt:  # Ctrl-C before the holder was installed: no traceback
    print("fav: cancelled", file=sys.stderr)
    sys.exit(130)

sys.exit(console())
