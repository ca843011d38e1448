"""Cross-site guards for the playground, as one pure ASGI middleware in front of every route.

Host (DNS rebinding), Origin and Sec-Fetch-Site (other sites driving or reading the playground
through the user's browser), JSON-only bodies, and request bodies bounded while they arrive.
"""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
# A fetch from another site (or a sibling subdomain) says so in Sec-Fetch-Site; the user's own
# navigation says "none" and the page's own requests "same-origin".
FOREIGN_FETCH = {"cross-site", "same-site"}


class TooLarge(Exception):
    """A request body passed its limit while arriving."""


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


def split_host(host: str) -> tuple[str, int | None]:
    """``name[:port]`` (``[v6]:port`` included) -> (lowercase name, port or None); bad ports -> -1."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        name, rest = (host[: end + 1], host[end + 1:]) if end > 0 else (host, "")
    else:
        name, _, port_text = host.partition(":")
        rest = ":" + port_text if ":" in host else ""
    if not rest:
        return name, None
    port_text = rest[1:]
    return name, int(port_text) if rest.startswith(":") and port_text.isdigit() and len(port_text) <= 5 else -1


class Guard:
    """The playground's ASGI front door.

    ``hosts``: names the server answers to besides localhost, 127.0.0.1 and [::1] (the --host).
    ``limits``: body limit in bytes per path prefix (longest prefix wins); ``default_limit`` for the rest.
    ``json_paths``: paths whose POST bodies must be ``application/json``; ``csv_paths`` ``text/csv``.
    ``data_paths``: path prefixes of GETs that return session data (exports): same-origin only.
    """

    def __init__(self, app: Callable, *, hosts: tuple[str, ...] = (), limits: dict[str, int] | None = None,
                 default_limit: int = 0, json_paths: tuple[str, ...] = (), csv_paths: tuple[str, ...] = (),
                 data_paths: tuple[str, ...] = ()) -> None:
        self.app = app
        self.names = {n.lower() for n in (*LOCAL_NAMES, *hosts)} | {f"[{h.lower()}]" for h in hosts if ":" in h}
        self.limits = sorted((limits or {}).items(), key=lambda kv: -len(kv[0]))
        self.default_limit = default_limit
        self.json_paths, self.csv_paths, self.data_paths = json_paths, csv_paths, data_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        problem = self.check(scope)
        if problem is not None:
            status, field, message = problem
            if scope["type"] == "websocket":
                # Closing before accepting makes the server refuse the handshake with 403.
                await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
                return
            await _answer(send, status, field, message)
            return
        if scope["type"] == "http":
            await self._bounded(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    # -- the checks, in the order a request meets them

    def check(self, scope: Scope) -> tuple[int, str, str] | None:
        """(status, field, message) for a request to refuse, else None."""
        headers = _headers(scope)
        host = headers.get("host", "")
        name, port = split_host(host)
        server = scope.get("server")
        want_port = server[1] if server else None
        default_port = 443 if scope.get("scheme") in ("https", "wss") else 80
        if name not in self.names or port == -1 or (want_port is not None and (port or default_port) != want_port):
            return 400, "Host", (f"Host: expected this playground's own address (localhost, 127.0.0.1 or [::1], "
                                 f"with its port), got {host[:80]!r}. Open the address that `mlplab serve` printed.")
        method = scope.get("method", "GET")
        path = scope.get("path", "")
        websocket = scope["type"] == "websocket"
        guarded = websocket or method in STATE_CHANGING or path.startswith(self.data_paths)
        if guarded:
            origin = headers.get("origin")
            scheme = "https" if scope.get("scheme") in ("https", "wss") else "http"
            if origin is not None and origin.lower() != f"{scheme}://{host.lower()}":
                return 403, "Origin", (f"Origin: expected this page's own origin {scheme}://{host}, got "
                                       f"{origin[:80]!r}. Another site cannot drive or read the playground.")
            site = headers.get("sec-fetch-site")
            if site in FOREIGN_FETCH:
                return 403, "Origin", (f"Sec-Fetch-Site: expected a request from the playground's own page, got "
                                       f"{site!r}. Another site cannot drive or read the playground.")
        if method in STATE_CHANGING and not websocket:
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            want = "application/json" if path in self.json_paths else "text/csv" if path in self.csv_paths else None
            if want is not None and ctype != want:
                return 415, "Content-Type", f"Content-Type: expected {want}, got {ctype or 'none'!r}"
        length = headers.get("content-length")
        limit = self.limit(path)
        if length is not None:
            if not length.isdigit():
                return 400, "Content-Length", f"Content-Length: expected a whole number of bytes, got {length[:40]!r}"
            if int(length) > limit:
                return 413, "body", f"body: expected at most {limit} bytes, got {int(length)}"
        return None

    def limit(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.default_limit

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the body's bytes as they arrive; past the limit, stop reading and answer 413."""
        limit = self.limit(scope.get("path", ""))
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except TooLarge:
            if started:  # the app answered already; nothing sensible can be sent now
                raise
            await _answer(send, 413, "body", f"body: expected at most {limit} bytes, got more")


async def _answer(send: Send, status: int, field: str, message: str) -> None:
    body = json.dumps({"error": message, "field": field}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
