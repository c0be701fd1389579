"""Where the smoke book is built (shared by conftest.py and the tests of this folder)."""

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SMOKE = Path(os.environ.get("CROSSLINGUAL_SMOKE_DIR", ROOT / "_build" / "smoke"))
