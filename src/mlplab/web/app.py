"""The playground's HTTP and WebSocket surface: `create_app()` and `serve()`.

Pages, plotly.js from the installed plotly package, a JSON API that validates everything through
`mlplab.specs` (bad input is a 4xx naming the field), and one WebSocket per page session that streams
frames from the session's worker thread. Training itself lives in session.py, through `mlplab.train`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import json
import os
import secrets
import sys
import threading
import time
import weakref
from collections import deque
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.websockets import WebSocketState

from ..errors import DataFileError, SpecError
from . import config as cfg
from . import frames as fr
from . import session as sess
from .export import snippet as write_snippet
from .scheduler import Scheduler
from .security import Guard

STATIC = Path(__file__).parent / "static"
MAX_SESSIONS = 32
MAX_BODY = 2_000_000  # bytes of a JSON request (a drawn or uploaded data set included)
MAX_UPLOAD = 1_000_000  # bytes of an uploaded CSV
MAX_MESSAGE = 10_000  # bytes of one WebSocket command
MAX_WS_FRAME = 1_000_000  # uvicorn hangs up above this; between the two, the page gets a readable error
OUTBOX = 8  # frames waiting for a slow page; older ones are dropped (the page wants the latest)
MAX_WAITING = 256  # messages of any kind waiting for a page that does not read them
UNCLAIMED_S = 120.0  # a session nobody connected to within this long is closed
COMMANDS = ("play", "pause", "step", "reset", "lr", "weight")
SWITCH_INTERVAL_S = 0.001


class BadRequest(Exception):
    def __init__(self, status: int, param: str, message: str):
        super().__init__(message)
        self.status, self.param, self.message = status, param, message


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(raw: bytes, limit: int = MAX_BODY) -> Any:
    """Strict JSON (no NaN/Infinity), size-limited; problems become BadRequest naming the body."""
    if len(raw) > limit:
        raise BadRequest(413, "body", f"body: expected at most {limit} bytes, got {len(raw)}")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise BadRequest(400, "body", f"body: expected a JSON object, got invalid JSON ({exc})") from None


class Outbox:
    """Messages for one page: filled from any thread (in the state machine's order), drained by the event loop.

    Only frames are dropped when a slow page falls behind (the oldest first: the page wants the
    latest); states, replies and errors always arrive. The loop is the WebSocket's, bound when the
    page connects; before that, messages just wait.
    """

    def __init__(self) -> None:
        self.items: deque[tuple[bool, str]] = deque()  # (is a frame, JSON text)
        self.lock = threading.Lock()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.ready: asyncio.Event | None = None
        self.dropped = 0
        self.closed = False  # a message stamped "closed" was put: the last one the page gets

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.ready = asyncio.Event()
        self.loop = loop
        self.ready.set()

    def put(self, message: dict[str, Any]) -> None:
        text = fr.to_json(message)  # a diverged model's inf and NaN arrive as null, never as an error
        frame = message.get("type") == "frame"
        with self.lock:
            if frame and sum(f for f, _ in self.items) >= OUTBOX:
                oldest = next(i for i, (f, _) in enumerate(self.items) if f)
                del self.items[oldest]
                self.dropped += 1
            if len(self.items) >= MAX_WAITING:  # a client that sends but never reads: the newest still say the state
                del self.items[0]
                self.dropped += 1
            self.items.append((frame, text))
            self.closed = self.closed or message.get("state") == "closed"
        loop, ready = self.loop, self.ready
        if loop is not None and ready is not None:
            try:
                loop.call_soon_threadsafe(ready.set)
            except RuntimeError:  # the loop has shut down: nobody is listening any more
                pass

    async def drain(self) -> tuple[list[str], bool]:
        """The waiting messages, and whether the last of them closed the session."""
        assert self.ready is not None, "bind() before drain()"
        await self.ready.wait()
        self.ready.clear()
        with self.lock:
            out = [text for _, text in self.items]
            self.items.clear()
            return out, self.closed


class Entry:
    def __init__(self, session: sess.Session, outbox: Outbox):
        self.session, self.outbox = session, outbox
        self.created = time.monotonic()
        self.connected = False


class Sessions:
    """Live sessions by id, bounded in number; unclaimed ones are closed after a while."""

    def __init__(self, limit: int = MAX_SESSIONS, scheduler: Scheduler | None = None):
        self.limit = limit
        self.scheduler = scheduler or Scheduler()
        self.entries: dict[str, Entry] = {}
        self.lock = threading.Lock()
        # Every session not yet freed, forgotten or not: one being closed by another thread (a page
        # that just disconnected) must still be waited for when the server stops.
        self.alive: weakref.WeakSet[sess.Session] = weakref.WeakSet()

    def add(self, config: cfg.Config) -> tuple[str, Entry]:
        self.reap()
        with self.lock:
            if len(self.entries) >= self.limit:
                raise BadRequest(429, "session", f"session: expected at most {self.limit} open sessions, got "
                                 f"{len(self.entries)} already. Close a playground tab or wait a minute.")
            outbox = Outbox()
            entry = Entry(sess.Session(config, outbox.put, self.scheduler), outbox)
            sid = secrets.token_urlsafe(12)
            self.entries[sid] = entry
            self.alive.add(entry.session)
        return sid, entry

    def get(self, sid: str) -> Entry:
        entry = self.entries.get(sid)
        if entry is None:
            raise BadRequest(404, "session", f"session: expected the id of an open session, got {sid[:40]!r}. Reload the page.")
        return entry

    def remove(self, sid: str) -> Entry | None:
        with self.lock:
            entry = self.entries.pop(sid, None)
        if entry is not None:
            entry.session.close()
            _return_memory()
        return entry

    def reap(self) -> None:
        now = time.monotonic()
        stale = [sid for sid, e in list(self.entries.items()) if not e.connected and now - e.created > UNCLAIMED_S]
        for sid in stale:
            self.remove(sid)

    def close_all(self) -> None:
        """Close every session and wait for every worker thread to end (also those closing elsewhere)."""
        for sid in list(self.entries):
            self.remove(sid)
        for session in list(self.alive):
            session.close()


def _return_memory() -> None:
    """Hand freed heap back to the system: each worker thread allocated in its own malloc arena, and
    glibc keeps an arena's free pages unless asked, so a closed page's memory would otherwise stay."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to trim
        pass


def _error(status: int, param: str, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "field": param}, status_code=status)


def create_app(*, max_sessions: int = MAX_SESSIONS, hosts: tuple[str, ...] = (), slots: int | None = None) -> FastAPI:
    """The playground as an ASGI app (pages, plotly.js, JSON API, WebSocket).

    ``hosts``: names besides localhost/127.0.0.1/[::1] that the Host header may carry (``--host``).
    ``slots``: how many sessions train at once (see scheduler.py); one per core by default.
    """
    app = FastAPI(title="mlplab playground", docs_url=None, redoc_url=None, openapi_url=None)
    sessions = Sessions(max_sessions, Scheduler(slots))
    app.state.sessions = sessions
    app.add_middleware(Guard, hosts=hosts, limits={"/api/csv": MAX_UPLOAD}, default_limit=MAX_BODY,
                       json_paths=("/api/session",), csv_paths=("/api/csv",), data_paths=("/api/session/",))

    @app.exception_handler(BadRequest)
    async def _bad(request: Request, exc: BadRequest) -> JSONResponse:
        return _error(exc.status, exc.param, exc.message)

    @app.exception_handler(SpecError)
    async def _spec(request: Request, exc: SpecError) -> JSONResponse:
        return _error(422, exc.param, str(exc))

    @app.exception_handler(DataFileError)
    async def _file(request: Request, exc: DataFileError) -> JSONResponse:
        return _error(422, "file", str(exc))

    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/vendor/plotly.min.js", include_in_schema=False)
    async def plotly_js() -> FileResponse:
        return FileResponse(_plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/api/options")
    async def options() -> dict[str, Any]:
        return {**_static_options(), "limits": {**_static_options()["limits"], "sessions": max_sessions}}

    @app.post("/api/session")
    async def create(request: Request) -> dict[str, Any]:
        raw = parse_json(await request.body())
        config = await asyncio.to_thread(cfg.parse_config, raw)
        sid, entry = await asyncio.to_thread(sessions.add, config)
        return {"id": sid, **entry.session.data_message()}

    @app.post("/api/csv")
    async def upload_csv(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > MAX_UPLOAD:
            raise BadRequest(413, "file", f"file: expected at most {MAX_UPLOAD} bytes, got {len(raw)}")
        if not raw.strip():
            raise BadRequest(400, "file", "file: expected a CSV file with a header line, got an empty file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(400, "file", "file: expected UTF-8 text (a CSV file), got binary data") from None
        return await asyncio.to_thread(cfg.csv_points, text)

    @app.get("/api/session/{sid}/export")
    async def export(sid: str) -> Response:
        entry = sessions.get(sid)
        data = await asyncio.to_thread(entry.session.export_zip)
        return Response(data, media_type="application/zip",
                        headers={"Content-Disposition": 'attachment; filename="mlplab-playground.zip"'})

    @app.get("/api/session/{sid}/snippet")
    async def snippet(sid: str) -> PlainTextResponse:
        entry = sessions.get(sid)
        return PlainTextResponse(write_snippet(entry.session.config, entry.session.start_spec(), entry.session.changes))

    @app.delete("/api/session/{sid}")
    async def delete(sid: str) -> dict[str, Any]:
        sessions.get(sid)
        await asyncio.to_thread(sessions.remove, sid)
        return {"closed": sid}

    @app.websocket("/api/session/{sid}/ws")
    async def stream(ws: WebSocket, sid: str) -> None:
        entry = sessions.entries.get(sid)
        await ws.accept()
        if entry is None or entry.connected:
            why = "no open session with this id" if entry is None else "this session already has a page"
            await ws.send_json({"type": "error", "field": "session", "state": "closed",
                                "error": f"session: {why}. Reload the page."})
            await ws.close(code=4404)
            return
        entry.connected = True
        entry.outbox.bind(asyncio.get_running_loop())
        s = entry.session
        await asyncio.to_thread(s.hello)

        async def send() -> None:
            while True:
                texts, closed = await entry.outbox.drain()
                for text in texts:
                    await ws.send_text(text)
                if closed:  # deleted elsewhere: the page has been told (above); hang up
                    await ws.close(code=4410)
                    return

        async def receive() -> None:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:  # a binary frame: read it as UTF-8 text, or answer that it is not
                    text = (message.get("bytes") or b"").decode("utf-8", errors="replace")
                await _command(s, text)

        tasks = [asyncio.create_task(send()), asyncio.create_task(receive())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            # Closing joins the worker thread: do it off the loop, and without awaiting, so that a
            # cancelled handler (server shutdown) cannot leave the session open.
            threading.Thread(target=sessions.remove, args=(sid,), name="mlplab-close", daemon=True).start()
            if WebSocketState.CONNECTED == ws.client_state == ws.application_state:  # a task failed: hang up, not go silent
                with contextlib.suppress(Exception):
                    await ws.close(code=1011)

    return app


@functools.lru_cache(maxsize=1)
def _static_options() -> dict[str, Any]:
    """What the page may choose from: the same for every request, so built once."""
    from ..specs import FEATURES, ModelSpec, TrainSpec
    from ..training.loop import TASK_LOSSES

    def choices(cls, name: str) -> list[str]:
        return list(cls.model_fields[name].annotation.__args__)

    return {
        "datasets": cfg.playground_datasets(),
        "presets": cfg.playground_presets(),
        "activation": choices(ModelSpec, "activation"), "norm": choices(ModelSpec, "norm"),
        "init": choices(ModelSpec, "init"), "optimizer": choices(TrainSpec, "optimizer"), "engine": choices(TrainSpec, "engine"),
        "losses": {k: list(v) for k, v in TASK_LOSSES.items()},
        "limits": {"points": cfg.MAX_POINTS, "depth": cfg.MAX_DEPTH, "width": cfg.MAX_WIDTH,
                   "epochs": cfg.MAX_EPOCHS, "upload_bytes": MAX_UPLOAD, "classes": cfg.MAX_CLASSES,
                   "weight": sess.MAX_WEIGHT, "diagram_units": fr.DIAGRAM_UNITS},
        "features": list(FEATURES),
    }


async def _command(s: sess.Session, text: str) -> None:
    """One command from the page. Every answer (state, lr, error) goes through the session's ordered
    channel, so it can never overtake or be overtaken by a frame; a bad command is answered, never a crash."""
    try:
        if len(text) > MAX_MESSAGE:
            raise SpecError("message", f"at most {MAX_MESSAGE} bytes", f"{len(text)} bytes")
        try:
            msg = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise SpecError("message", 'a JSON object like {"cmd": "play"}', text[:60]) from None
        if not isinstance(msg, dict):
            raise SpecError("message", 'a JSON object like {"cmd": "play"}', msg)
        cmd = msg.get("cmd")
        if not isinstance(cmd, str) or cmd not in COMMANDS:
            raise SpecError("cmd", f"one of {', '.join(COMMANDS)}", cmd)
        if cmd == "lr":
            s.set_lr(msg.get("value"))
            s.machine.send({"type": "lr", "lr": s.lr})
        elif cmd == "weight":
            reply = await asyncio.to_thread(s.set_weight, msg.get("layer"), msg.get("to"), msg.get("from"), msg.get("value"))
            s.machine.send(reply)
        elif cmd == "reset":
            await asyncio.to_thread(s.command, cmd)
        else:
            s.command(cmd)
    except SpecError as exc:
        s.machine.send({"type": "error", "field": exc.param, "error": str(exc)})


def serve(host: str = "127.0.0.1", port: int = 8000, open_browser: bool = False, url: str | None = None) -> None:
    """Run the playground with uvicorn until Ctrl-C; prints the address to open (``url``: the page with an
    experiment loaded, see `web.url.playground_url`)."""
    import torch
    import uvicorn

    torch.set_num_threads(1)  # tiny models are dispatch-bound; one thread per session is fastest
    # Each torch call releases the GIL, so training threads and the event loop hand it over thousands
    # of times a second; a waiting thread gets it after this long instead of the default 5 ms.
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    app = create_app(hosts=(host,))
    url = url or f"http://{host}:{port}/"
    print(f"mlplab playground: {url}  (Ctrl-C to stop)", flush=True)
    if open_browser:
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    try:
        # Frames are base64 floats that deflate barely shrinks; compressing them would cost the event loop.
        uvicorn.run(app, host=host, port=port, log_level=os.environ.get("MLPLAB_LOG", "warning"),
                    ws_per_message_deflate=False, ws_max_size=MAX_WS_FRAME)
    finally:
        app.state.sessions.close_all()
