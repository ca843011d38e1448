"""Playground under load: frames/s per page, API latency, and memory, with 1 page and with 20 at once.

The server runs as its own process (``mlplab.web.serve`` on 127.0.0.1), so its CPU time and memory
(from /proc) are its own; pages are `websockets` clients in this process, and a separate thread
times the API (``GET /api/options``, and creating + deleting a session) all the while.
1. Reference: one page training 2-[16,16]-1 on 500 moons points with the 100 x 100 heatmap, and the
   API latency with nothing else running.
2. ``--sessions`` pages (20) training at once for ``--duration`` seconds (60 in the docs): frames/s
   of every page (goal: each >= 3), API latency (goal: < 0.5 s), errors, and the server's resident
   memory before, at its peak, and after every page has closed (goal: back to where it started).

3. One page in Chromium (Playwright, Debian's chromium) with the network diagram drawn: frames the page
   receives and draws per second, and the main thread's time per drawn frame, for 2-[16,16]-1 and for
   the largest model the page allows, 10 x 128 (goal: >= 20 frames/s drawn; section "web-diagram").

Run: ``.venv/bin/python benchmarks/bench_web.py [--duration 60] [--sessions 20]`` (sections "web" and
"web-diagram"); ``--diagram-only`` runs just part 3 (~20 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _table import machine, markdown_table, write_section  # noqa: E402

CONFIG = {"data": {"name": "moons", "n": 500, "noise": 0.2}, "model": {"hidden": [16, 16]}, "train": {"lr": 0.01}}
PROBE = {"data": {"name": "xor", "n": 40}, "model": {"hidden": [4]}}
CLK = os.sysconf("SC_CLK_TCK")
PROBE_EVERY_S = 0.5
BIG = {"data": {"name": "moons", "n": 500, "noise": 0.2}, "model": {"hidden": [128] * 10}, "train": {"lr": 0.001}}


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


def _request(base: str, path: str, method: str = "GET", body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{base}{path}", data=data, method=method, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


class Prober(threading.Thread):
    """Times the API from its own thread, every PROBE_EVERY_S: options, and a session made and deleted."""

    def __init__(self, base: str):
        super().__init__(daemon=True)
        self.base, self.stop = base, threading.Event()
        self.options: list[float] = []
        self.create: list[float] = []

    def run(self) -> None:
        while not self.stop.wait(PROBE_EVERY_S):
            t = time.perf_counter()
            _request(self.base, "/api/options")
            self.options.append(time.perf_counter() - t)
            t = time.perf_counter()
            sid = _request(self.base, "/api/session", "POST", PROBE)["id"]
            _request(self.base, f"/api/session/{sid}", "DELETE")
            self.create.append(time.perf_counter() - t)


async def _page(base: str, seconds: float, frames: list[int], index: int, errors: list[str]) -> None:
    """One page: create a session, play, count frames for ``seconds``, close."""
    import websockets

    sid = (await asyncio.to_thread(_request, base, "/api/session", "POST", CONFIG))["id"]
    uri = base.replace("http://", "ws://") + f"/api/session/{sid}/ws"
    try:
        async with websockets.connect(uri, max_size=2**24, open_timeout=60) as ws:
            await ws.recv()  # the untrained frame
            await ws.send(json.dumps({"cmd": "play"}))
            end = time.monotonic() + seconds
            while (left := end - time.monotonic()) > 0:
                try:
                    text = await asyncio.wait_for(ws.recv(), timeout=left)
                except asyncio.TimeoutError:
                    break
                if '"type": "frame"' in text:  # no need to parse 60 kB of JSON to count it
                    frames[index] += 1
                elif '"type": "error"' in text:
                    errors.append(text[:200])
    except Exception as exc:  # the load test counts failures instead of stopping at the first
        errors.append(repr(exc))


async def _pages(base: str, n: int, seconds: float) -> tuple[list[int], list[str]]:
    frames, errors = [0] * n, []
    await asyncio.gather(*[_page(base, seconds, frames, i, errors) for i in range(n)])
    return frames, errors


def _settled_rss(pid: int, seconds: float = 15.0) -> float:
    """RSS once the closed sessions are gone: sampled until it stops falling (or ``seconds`` pass)."""
    last, end = _rss_mb(pid), time.monotonic() + seconds
    while time.monotonic() < end:
        time.sleep(1.0)
        now = _rss_mb(pid)
        if now >= last - 0.5:
            return now
        last = now
    return last


def _load(base: str, pid: int, pages: int, seconds: float) -> dict:
    prober = Prober(base)
    peak = [_rss_mb(pid)]

    def sample() -> None:
        while not prober.stop.wait(1.0):
            peak.append(_rss_mb(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    cpu0 = _cpu_s(pid)
    prober.start()
    sampler.start()
    frames, errors = asyncio.run(_pages(base, pages, seconds))
    load = os.getloadavg()[0]  # the whole machine's, other people's processes included
    prober.stop.set()
    prober.join()
    sampler.join()
    return {"fps": [f / seconds for f in frames], "errors": errors, "options": prober.options,
            "create": prober.create, "peak": max(peak), "load": load, "cpu": _cpu_s(pid) - cpu0, "frames": sum(frames)}


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return f"{1000 * statistics.median(ordered):.0f} / {1000 * p95:.0f} / {1000 * ordered[-1]:.0f}"


def _browser_page(base: str, config: dict, seconds: float) -> dict:
    """One Chromium page playing ``config`` for ``seconds``: frames received and drawn, ms per draw."""
    from urllib.parse import quote

    from playwright.sync_api import sync_playwright

    from mlplab.viz.export import find_browser

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_browser(), args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/#" + quote(json.dumps(config)))
            page.wait_for_function("document.body.dataset.state === 'idle' && document.querySelectorAll('#network line').length > 0",
                                   timeout=120_000)
            page.click("#play")
            page.wait_for_function("document.body.dataset.state === 'running'", timeout=60_000)
            start = page.evaluate("({...window.mlplabPerf})")
            time.sleep(seconds)
            end = page.evaluate("({...window.mlplabPerf})")
            links = page.evaluate("document.querySelectorAll('[data-testid=network] line').length")
        finally:
            browser.close()
    got = {k: end[k] - start[k] for k in ("received", "drawn", "ms")}
    return {"received": got["received"] / seconds, "drawn": got["drawn"] / seconds,
            "ms": got["ms"] / max(1, got["drawn"]), "links": links}


def _diagram(base: str, seconds: float, write: bool) -> None:
    rows, results = [], []
    for label, config in (("2-[16,16]-1 (reference)", CONFIG), ("2-[128 x 10]-1, the largest allowed", BIG)):
        r = _browser_page(base, config, seconds)
        results.append(r)
        rows.append([label, f"{seconds:.0f}", r["links"], f"{r['received']:.1f}", f"{r['drawn']:.1f}", f"{r['ms']:.1f}"])
    table = markdown_table(["model", "seconds", "links drawn", "frames/s received", "frames/s drawn",
                            "main-thread ms per drawn frame"], rows)
    ok = results[0]["drawn"] >= 20
    body = (
        "## The playground page with its network diagram (`bench_web.py`, part 3)\n\n"
        "One page in Debian's Chromium (headless, Playwright) training 500 moons points, with the network "
        "diagram drawn (every link restyled each frame, every node's map redrawn twice a second), the input "
        "view and the loss curve. 'Received' is what the server sent (its ~30 frames/s cap, the reference "
        "for what the page could draw); 'drawn' counts the page's requestAnimationFrame redraws. Goal: "
        ">= 20 frames/s drawn with the diagram of the reference model. The 10 x 128 model's diagram draws the "
        "first 16 units of each layer; there the server's training (149 000 parameters, 500 points per step, one "
        "core) is what bounds the frames, and the page draws each one it receives. "
        f"Goal {'met' if ok else 'NOT met'} in this run.\n\n" + table + "\n"
    )
    print(body)
    if write:
        write_section("web-diagram", body)


def _start_server() -> tuple[subprocess.Popen, str]:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    code = f"from mlplab.web import serve; serve('127.0.0.1', {port})"
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    server.stdout.readline()  # the address line, printed just before uvicorn binds
    deadline = time.monotonic() + 60
    while True:
        try:
            _request(base, "/api/options")
            return server, base
        except OSError:
            if time.monotonic() > deadline:
                server.terminate()
                raise
            time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=60.0, help="seconds of the many-pages run")
    ap.add_argument("--single", type=float, default=10.0, help="seconds of the one-page reference run")
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--diagram", type=float, default=10.0, help="seconds of each browser page with the diagram")
    ap.add_argument("--diagram-only", action="store_true", help="only the browser measurement (part 3)")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if args.diagram_only:
        server, base = _start_server()
        try:
            _diagram(base, args.diagram, not args.no_write)
        finally:
            server.terminate()
            server.wait(timeout=30)
        return

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    code = f"from mlplab.web import serve; serve('127.0.0.1', {port})"
    server = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        server.stdout.readline()  # the address line, printed just before uvicorn binds
        deadline = time.monotonic() + 60
        while True:
            try:
                _request(base, "/api/options")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        rss_cold = _rss_mb(server.pid)
        # Warm-up: the first imports, thread arenas and allocator pools are paid once per process,
        # so "back to its start" is measured from after one round of pages has opened and closed.
        _load(base, server.pid, args.sessions, 5.0)
        one = _load(base, server.pid, 1, args.single)
        rss_start = _settled_rss(server.pid)
        many = _load(base, server.pid, args.sessions, args.duration)
        rss_end = _settled_rss(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)

    fps = many["fps"]
    rows = [
        ["1 page (reference)", f"{args.single:.0f}", f"{one['fps'][0]:.1f}", "-",
         f"{1000 * one['cpu'] / max(1, one['frames']):.1f}", _ms(one["options"]), _ms(one["create"]), len(one["errors"])],
        [f"{args.sessions} pages at once", f"{args.duration:.0f}", f"{statistics.median(fps):.1f}",
         f"{min(fps):.1f} / {max(fps):.1f}", f"{1000 * many['cpu'] / max(1, many['frames']):.1f}",
         _ms(many["options"]), _ms(many["create"]), len(many["errors"])],
    ]
    table = markdown_table(["run", "seconds", "frames/s per page (median)", "slowest / fastest page",
                            "server CPU ms per frame", "GET /api/options ms (median / p95 / max)",
                            "create + delete a session ms (median / p95 / max)", "errors"], rows)
    # The goals are for the many-pages run; the one-page row is the reference.
    ok = min(fps) >= 3 and max(many["options"] + many["create"]) < 0.5 and rss_end <= 1.05 * rss_start
    body = (
        "## The playground (`bench_web.py`)\n\n"
        "Frames reaching WebSocket clients while the playground trains 2-[16,16]-1 on 500 moons points "
        "(server in its own process, `torch.set_num_threads(1)`, sessions sharing "
        "the CPU through the scheduler of `docs/playground.md`), and the API timed from a separate thread "
        "every 0.5 s meanwhile. Goals: every page >= 3 frames/s, every API call < 0.5 s, memory back to "
        f"its start after the pages close. Machine: {machine()}; its 1-minute load average at the end of the "
        f"{args.sessions}-page run was {many['load']:.1f} (other processes included).\n\n" + table + "\n"
        f"Server resident memory: {rss_cold:.0f} MB when it started serving, {rss_start:.0f} MB after a 5 s "
        f"warm-up round of {args.sessions} pages had closed, {many['peak']:.0f} MB at the peak of the measured "
        f"run, {rss_end:.0f} MB after its pages closed. The memory goal is read from the level after the "
        f"warm-up round: the first pages a server opens grow it once by {rss_start - rss_cold:.0f} MB (first "
        "imports, thread arenas, allocator pools that the process keeps), and a round of pages after that "
        f"returns to within {100 * (rss_end / rss_start - 1):+.1f}% of where it started. "
        f"Goals {'met' if ok else 'NOT met'} in this run.\n"
    )
    print(body)
    if many["errors"]:
        print("errors:", many["errors"][:5])
    if not args.no_write:
        write_section("web", body)
    server, base = _start_server()  # a fresh server: the load test's sessions are gone
    try:
        _diagram(base, args.diagram, not args.no_write)
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
