"""`python -m training`: see training.cli."""

from __future__ import annotations

from training.cli import main

raise SystemExit(main())
