"""Run by test_kill_resume.py in a subprocess that gets SIGKILLed mid-way."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from drl_test_modules import Slow
from processing_helpers import make_collection

from deeprank_like.processing import process


def collection():
    return make_collection(n_ppi=3, srv=True, bad=False, model_ids=[f"m{i}" for i in range(7)])


if __name__ == "__main__":
    process(
        collection(),
        prefix=sys.argv[1],
        feature_modules=["components", "contact", Slow()],
        executor="processes",
        cpu_count=2,
        resume="--resume" in sys.argv,
        verbose=False,
    )
