"""Shared by the benchmark scripts: machine facts, timing, and writing one section of docs/benchmarks.md.

Each script owns one section between ``<!-- bench:NAME -->`` markers and rewrites only that one, so
scripts can run alone or together (``make bench``) without clobbering each other's tables.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import time
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Every table is written by a script in `benchmarks/` that measures mlplab against a reference "
    "in the same run (ratios, not absolute times, are the claim). Re-run with `make bench`.\n"
)


def machine() -> str:
    import torch

    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )


def best_of(fn, repeat: int = 3) -> float:
    """Median wall time of ``repeat`` calls, in seconds."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def interleaved(contenders: dict[str, object], rounds: int = 5) -> dict[str, list[float]]:
    """Wall times of each contender, run in turn round after round (A B C, A B C, ...), so a slow spell
    on a shared machine falls on every contender alike; ``{name: [seconds per round]}``."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return times


def ratio(slow: list[float], fast: list[float]) -> tuple[float, float, float]:
    """Median, lowest and highest of the per-round ratios slow/fast (rounds of `interleaved`)."""
    r = [a / b for a, b in zip(slow, fast)]
    return statistics.median(r), min(r), max(r)


def dispatch_us(shape: tuple[int, ...] = (300, 2), calls: int = 20000) -> tuple[float, float]:
    """Microseconds per call of one small elementwise operation, PyTorch vs NumPy, on float32 arrays of
    ``shape``: what a step of a tiny network pays per operation before any arithmetic."""
    import numpy as np
    import torch

    a_np = np.ones(shape, np.float32)
    a_t = torch.ones(shape)
    out = []
    for op in (lambda: torch.add(a_t, a_t), lambda: np.add(a_np, a_np)):
        for _ in range(1000):
            op()
        samples = []
        for _ in range(5):
            t = time.perf_counter()
            for _ in range(calls):
                op()
            samples.append((time.perf_counter() - t) / calls * 1e6)
        out.append(statistics.median(samples))
    return out[0], out[1]


def markdown_table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``name`` of docs/benchmarks.md with ``body``."""
    DOC.parent.mkdir(parents=True, exist_ok=True)
    text = DOC.read_text() if DOC.exists() else HEADER
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.rstrip()}\n\n_Measured on {machine()}, {time.strftime('%Y-%m-%d')}._\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)
