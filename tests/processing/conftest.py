"""Put this folder on sys.path (helpers and test feature modules; workers inherit it)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from processing_helpers import process_pool  # noqa: E402, F401 - fixture
