"""Run every benchmark script in turn (`make bench`); each rewrites its own section of docs/benchmarks.md.

The regions benchmark needs the `bench` extra (`pip install -e ".[bench]"`: regioncam).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    failed = []
    for script in sorted(HERE.glob("bench_*.py")):
        started = time.perf_counter()
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)]).returncode != 0:
            failed.append(script.name)
        print(f"   {time.perf_counter() - started:.0f} s", flush=True)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
