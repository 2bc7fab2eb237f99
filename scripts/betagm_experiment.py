#!/usr/bin/env python
"""Deprecated location: the β-GM experiment is ``python -m experiments.betagm`` (same options).

Kept so that old commands keep working; it forwards every argument.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

from experiments.betagm.__main__ import main

if __name__ == "__main__":
    print(
        "scripts/betagm_experiment.py is deprecated: use `python -m experiments.betagm`",
        file=sys.stderr,
    )
    sys.exit(main())
