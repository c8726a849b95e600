"""`python -m env.docs generate|check ...` (see env/docs/cli.py)."""

from __future__ import annotations

import sys

from env.docs.cli import main

sys.exit(main())
