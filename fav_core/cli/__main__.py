"""``python -m fav_core.cli ...`` — the same as the ``fav`` console script (used by hosts out of process)."""
from __future__ import annotations

import sys

try:
    from fav_core.cli.main import console
except KeyboardInterrupt:  # Ctrl-C while the CLI itself is imported: no traceback
    print("fav: cancelled", file=sys.stderr)
    sys.exit(130)

sys.exit(console())
