"""Playground throughput: frames/s reaching a page, server CPU per frame, and 20 pages at once.

The server runs as its own process (``mlplab.web.serve`` on 127.0.0.1), so its CPU time and memory
(from /proc) are its own; clients are `websockets` connections in this process.
1. One page training 2-[16,16]-1 on 500 moons points with the 100 x 100 boundary heatmap: frames/s
   received, server CPU seconds per frame. Goal: >= 20 frames/s.
2. ``--sessions`` pages (20) training at once for ``--duration`` seconds (60 in the docs): errors,
   frames received, and the server's resident memory sampled over the run (flat = no leak).

Run: ``.venv/bin/python benchmarks/bench_web.py [--duration 60] [--sessions 20]`` (section "web").
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import machine, markdown_table, write_section  # noqa: E402

CONFIG = {"data": {"name": "moons", "n": 500, "noise": 0.2}, "model": {"hidden": [16, 16]}, "train": {"lr": 0.01}}
CLK = os.sysconf("SC_CLK_TCK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime + stime


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _create(base: str) -> str:
    req = urllib.request.Request(f"{base}/api/session", data=json.dumps(CONFIG).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())["id"]


async def _page(base: str, seconds: float, stats: dict) -> None:
    """One page: create a session, play, count frames until ``seconds`` pass."""
    import websockets

    sid = await asyncio.to_thread(_create, base)
    uri = base.replace("http://", "ws://") + f"/api/session/{sid}/ws"
    try:
        async with websockets.connect(uri, max_size=2**24, open_timeout=30) as ws:
            await ws.recv()  # the untrained frame
            await ws.send(json.dumps({"cmd": "play"}))
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                msg = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
                if msg["type"] == "frame":
                    stats["frames"] += 1
                elif msg["type"] == "error":
                    stats["errors"] += 1
    except Exception as exc:  # the load test counts failures instead of stopping at the first
        stats["errors"] += 1
        stats.setdefault("why", []).append(repr(exc))


async def _load(base: str, pid: int, sessions: int, seconds: float) -> dict:
    stats = {"frames": 0, "errors": 0}
    rss: list[float] = []

    async def sample() -> None:
        while True:
            rss.append(_rss_mb(pid))
            await asyncio.sleep(max(1.0, seconds / 12))

    sampler = asyncio.create_task(sample())
    await asyncio.gather(*[_page(base, seconds, stats) for _ in range(sessions)])
    sampler.cancel()
    stats["rss"] = rss
    return stats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of the concurrent-sessions run")
    ap.add_argument("--single", type=float, default=10.0, help="seconds of the one-page run")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    code = f"from mlplab.web import serve; serve('127.0.0.1', {port})"
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        server.stdout.readline()  # the address line
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/api/options", timeout=5).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        cpu0 = _cpu_s(server.pid)
        one = asyncio.run(_load(base, server.pid, 1, args.single))
        cpu_one = _cpu_s(server.pid) - cpu0
        fps = one["frames"] / args.single
        rss_start = _rss_mb(server.pid)
        many = asyncio.run(_load(base, server.pid, args.sessions, args.duration))
        rss = many["rss"]
    finally:
        server.terminate()
        server.wait(timeout=20)

    quarter = rss[len(rss) // 4] if rss else float("nan")
    rows = [
        ["1 page, 2-[16,16]-1, 500 points, 100x100 heatmap", f"{args.single:.0f}", f"{fps:.1f}",
         f"{1000 * cpu_one / max(1, one['frames']):.1f}", one["errors"], "-"],
        [f"{args.sessions} pages at once", f"{args.duration:.0f}",
         f"{many['frames'] / args.duration / args.sessions:.1f} per page", "-", many["errors"],
         f"{rss_start:.0f} -> {quarter:.0f} -> {rss[-1]:.0f}" if rss else "-"],
    ]
    table = markdown_table(["run", "seconds", "frames/s reaching the client", "server CPU ms per frame",
                            "errors", "server RSS MB (start -> 1/4 -> end)"], rows)
    body = (
        "## The playground (`bench_web.py`)\n\n"
        "Frames reaching a WebSocket client while the playground trains (server in its own process, "
        f"`torch.set_num_threads(1)`). Goal: >= 20 frames/s for one page. Machine: {machine()}.\n\n" + table + "\n"
    )
    print(body)
    if many.get("why"):
        print("errors:", many["why"][:5])
    if not args.no_write:
        write_section("web", body)


if __name__ == "__main__":
    main()
