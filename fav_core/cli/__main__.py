"""``python -m fav_core.cli ...`` — the same as the ``fav`` console script (used by hosts out of process)."""
from __future__ import annotations

import sys

from fav_core.cli.main import console

sys.exit(console())
