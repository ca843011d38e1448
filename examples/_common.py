"""Shared by the examples: where to write, and a quick mode the tests use (MLPLAB_QUICK=1)."""

import os
from pathlib import Path

OUT = Path(os.environ.get("MLPLAB_EXAMPLES_OUT", "out/examples"))
OUT.mkdir(parents=True, exist_ok=True)
QUICK = os.environ.get("MLPLAB_QUICK") == "1"


def epochs(n: int) -> int:
    """The notebook's epoch count, or a handful when the tests run the examples."""
    return min(n, 20) if QUICK else n
