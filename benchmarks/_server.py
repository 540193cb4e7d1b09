"""The loopback benchmark server: canned Flexiti answers, in its own process.

Two implementations of the same routes:

* ``raw`` (default): a bare ``asyncio.Protocol`` HTTP/1.1 server (keep-alive, pipelining,
  Content-Length bodies) that answers with pre-encoded bytes. It exists because uvicorn's
  pure-Python h11 parser (httptools is not a dependency) is slower than the fastest
  client we measure, so with it the *server* would set the floor.
* ``uvicorn``: uvicorn, one worker, running a raw ASGI callable (no framework).

Routes (under ``/flexiti/pos-api``): ``POST v2.5/oauth/token``,
``GET v2.5/client-id/{id}/customers/lookup`` (a ~600-byte body),
``GET v2.5.1/client-id/{id}/authorizations?page_number=&page_size=&total=`` (generated
pages), ``GET /__stats`` / ``POST /__reset`` for request counters and ``GET|POST
/__config`` for settings.

``authorizations``: ``total`` items, or without ``total`` the configured
``authorizations_total`` (1,000 by default). With ``creation_date_from`` and/or
``creation_date_to`` (inclusive ISO dates, one alone means that one day) it lists that
window instead: ``per_day`` items per day (`WindowPages`), so windows never overlap.

``latency_ms`` (0 by default) delays every API answer (not ``/__*``) by that long on the
event loop (a timer, never a busy wait), so the server behaves like a remote API with many
requests in flight at once; ``in_flight`` / ``max_in_flight`` in the counters are the API
requests received and not yet answered (with latency 0 the raw server answers each one
before reading the next, so at most 1).

The parent runs ``python -m benchmarks._server`` through `ServerProcess`, which binds
127.0.0.1 only, waits (bounded) until the server answers, and always kills it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ._payloads import LOOKUP_BODY, PageTemplate, WindowPages, token_body

__all__ = ["HOST", "PREFIX", "ServerProcess", "asgi_app", "route"]

HOST = "127.0.0.1"
PREFIX = "/flexiti/pos-api"
_TOKEN_PATH = PREFIX + "/v2.5/oauth/token"
_LOOKUP_SUFFIX = "/customers/lookup"
_PAGES_SUFFIX = "/authorizations"
_NOT_FOUND = b'{"error":"not_found","error_description":"no such benchmark route"}'
_MAX_HEAD = 64 * 1024

_pages = PageTemplate()
_windows = WindowPages()
_counters: dict[str, int] = {}
_settings: dict[str, float] = {
    "token_ttl": 1200,
    "latency_ms": 0.0,
    "authorizations_total": 1000,
    "per_day": 1000,
}
_INT_SETTINGS = ("token_ttl", "authorizations_total", "per_day")


def _reset() -> None:
    in_flight = _counters.get("in_flight", 0)  # requests still waiting keep counting
    _counters.clear()
    _counters.update(requests=0, lookup=0, pages=0, client_credentials=0, refresh_token=0)
    _counters.update(in_flight=in_flight, max_in_flight=in_flight)


_reset()


def _configure(query: str) -> bytes:
    for key, values in urllib.parse.parse_qs(query).items():
        if key in _settings:
            value = float(values[-1])
            _settings[key] = int(value) if key in _INT_SETTINGS else max(0.0, value)
    return json.dumps(_settings).encode()


def _begin() -> None:
    """An API request arrived (its answer is written by `_end`)."""
    _counters["requests"] += 1
    in_flight = _counters["in_flight"] = _counters["in_flight"] + 1
    if in_flight > _counters["max_in_flight"]:
        _counters["max_in_flight"] = in_flight


def _end() -> None:
    _counters["in_flight"] -= 1


def _window_dates(args: dict[str, list[str]]) -> tuple[_dt.date, _dt.date] | None:
    first = args.get("creation_date_from", [None])[0]
    last = args.get("creation_date_to", [None])[0]
    if first is None and last is None:
        return None
    first_day = _dt.date.fromisoformat((first or last or "")[:10])
    last_day = _dt.date.fromisoformat((last or first or "")[:10])
    return first_day, last_day


def is_api(target: str) -> bool:
    """An API route (counted in flight, delayed by ``latency_ms``), not a ``/__*`` one."""
    return not target.startswith("/__")


def route(method: str, target: str, body: bytes) -> tuple[int, bytes]:
    """Answer one request: (status, JSON body). Shared by both server implementations.

    API requests must be bracketed by `_begin` / `_end` by the caller.
    """
    path, _, query = target.partition("?")
    if method == "GET" and path.endswith(_LOOKUP_SUFFIX):
        _counters["lookup"] += 1
        return 200, LOOKUP_BODY
    if method == "POST" and path == _TOKEN_PATH:
        grant = "refresh_token" if b"grant_type=refresh_token" in body else "client_credentials"
        _counters[grant] += 1
        number = _counters["client_credentials"] + _counters["refresh_token"]
        return 200, token_body(number, ttl=_settings["token_ttl"])
    if method == "GET" and path.endswith(_PAGES_SUFFIX):
        _counters["pages"] += 1
        args = urllib.parse.parse_qs(query)
        number = int(args.get("page_number", ["1"])[0])
        size = int(args.get("page_size", ["100"])[0])
        try:
            window = _window_dates(args)
        except ValueError:
            return 400, b'{"error":"wrong_inputs","error_description":"bad creation date"}'
        if window is not None:
            return 200, _windows.page(*window, number, size, int(_settings["per_day"]))
        total = int(args.get("total", [str(int(_settings["authorizations_total"]))])[0])
        return 200, _pages.page(number, size, total)
    if path == "/__stats":
        return 200, json.dumps(_counters).encode()
    if path == "/__config":
        return 200, _configure(query if method == "POST" else "")
    if method == "POST" and path == "/__reset":
        _reset()
        return 200, b"{}"
    return 404, _NOT_FOUND


# ---------------------------------------------------------------------- raw asyncio server

_REASONS = {200: b"OK", 404: b"Not Found", 400: b"Bad Request", 501: b"Not Implemented"}


def _response(status: int, body: bytes) -> bytes:
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
        % (status, _REASONS.get(status, b"OK"), len(body))
        + body
    )


_LOOKUP_RESPONSE = _response(200, LOOKUP_BODY)


class _HTTPProtocol(asyncio.Protocol):
    """Minimal HTTP/1.1: keep-alive, pipelined requests, Content-Length request bodies.

    With ``latency_ms`` > 0 API answers are queued per connection (in request order) and
    written by an event-loop timer once due; the loop keeps serving other connections.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._transport: asyncio.Transport | None = None
        # Delayed answers, in request order: [due (loop time), response, close after].
        self._queue: deque[tuple[float, bytes, bool]] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for _ in self._queue:
            _end()  # never answered: no longer in flight
        self._queue.clear()

    def _answer(self, response: bytes, close: bool) -> None:
        """Write one API answer now, or queue it when a latency is configured."""
        transport = self._transport
        assert transport is not None
        latency = _settings["latency_ms"]
        if latency <= 0 and not self._queue:
            _end()
            transport.write(response)
            if close:
                transport.close()
            return
        loop = asyncio.get_running_loop()
        self._queue.append((loop.time() + latency / 1000, response, close))
        if self._timer is None:
            self._timer = loop.call_at(self._queue[0][0], self._flush)

    def _flush(self) -> None:
        self._timer = None
        transport = self._transport
        assert transport is not None
        loop = asyncio.get_running_loop()
        now = loop.time()
        # Bounded by the queue length.
        while self._queue and self._queue[0][0] <= now:
            _, response, close = self._queue.popleft()
            _end()
            if transport.is_closing():
                continue
            transport.write(response)
            if close:
                transport.close()
        if self._queue:
            self._timer = loop.call_at(self._queue[0][0], self._flush)

    def data_received(self, data: bytes) -> None:
        transport = self._transport
        assert transport is not None
        buffer = self._buffer
        buffer += data
        # Bounded: every pass consumes one complete request from the buffer or returns.
        while buffer:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > _MAX_HEAD:
                    transport.close()
                return
            head = bytes(buffer[:end]).lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else end])
            if b"\r\ntransfer-encoding:" in head:
                transport.write(_response(501, b'{"error":"chunked bodies unsupported"}'))
                transport.close()
                return
            total = end + 4 + length
            if len(buffer) < total:
                return
            body = bytes(buffer[end + 4 : total])
            line_end = buffer.find(b"\r\n")
            request_line = bytes(buffer[: line_end if 0 <= line_end < end else end])
            del buffer[:total]
            try:
                method, target, _ = request_line.decode("latin-1").split(" ", 2)
            except ValueError:
                transport.write(_response(400, b'{"error":"bad request line"}'))
                transport.close()
                return
            query_at = target.find("?")
            path_end = query_at if query_at >= 0 else len(target)
            close = b"\r\nconnection: close" in head
            if method == "GET" and target.endswith(_LOOKUP_SUFFIX, 0, path_end):
                _begin()
                _counters["lookup"] += 1
                self._answer(_LOOKUP_RESPONSE, close)  # the hot path: pre-encoded bytes
            elif is_api(target):
                _begin()
                status, payload = route(method, target, body)
                self._answer(_response(status, payload), close)
            else:
                status, payload = route(method, target, body)
                transport.write(_response(status, payload))
                if close:
                    transport.close()
            if close:
                return


async def _serve_raw(sock: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_HTTPProtocol, sock=sock, backlog=4096)
    async with server:
        await server.serve_forever()


# ---------------------------------------------------------------------- ASGI (uvicorn)

_JSON_HEADERS = [(b"content-type", b"application/json")]


async def asgi_app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """A raw ASGI callable over `route` (no framework, so uvicorn is all we measure)."""
    if scope["type"] != "http":
        return
    body = b""
    if scope["method"] != "GET":
        chunks = []
        for _ in range(10_000):  # bounded: the token form is one chunk
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
    target = scope["path"]
    if scope["query_string"]:
        target += "?" + scope["query_string"].decode("latin-1")
    if is_api(target):
        _begin()
        try:
            status, payload = route(scope["method"], target, body)
            if _settings["latency_ms"] > 0:
                await asyncio.sleep(_settings["latency_ms"] / 1000)
        finally:
            _end()
    else:
        status, payload = route(scope["method"], target, body)
    headers = [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def _serve_uvicorn(sock: socket.socket) -> None:
    import uvicorn

    config = uvicorn.Config(
        asgi_app,
        workers=1,
        loop="asyncio",
        http="auto",
        ws="none",
        lifespan="off",
        interface="asgi3",
        log_level="warning",
        access_log=False,
        server_header=False,
        date_header=False,
        backlog=4096,
    )
    uvicorn.Server(config).run(sockets=[sock])


# ---------------------------------------------------------------------- process handling


def _exit_on_stdin_eof() -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stdin.buffer.read()
    os._exit(0)


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="flexiti-async benchmark server (loopback)")
    parser.add_argument("--kind", choices=("raw", "uvicorn"), default="raw")
    parser.add_argument("--token-ttl", type=int, default=1200)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay API answers")
    parser.add_argument("--cpu", type=int, default=None, help="pin the server to this CPU")
    args = parser.parse_args(argv)
    if args.cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    _settings["token_ttl"] = args.token_ttl
    _settings["latency_ms"] = max(0.0, args.latency_ms)
    # The parent holds our stdin open; EOF means it is gone, so never outlive it.
    threading.Thread(target=_exit_on_stdin_eof, daemon=True).start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))  # loopback only, a free port
    sock.listen(4096)
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    if args.kind == "uvicorn":
        _serve_uvicorn(sock)
    else:
        asyncio.run(_serve_raw(sock))


class ServerProcess:
    """Start the benchmark server in a subprocess; always killed on exit.

    >>> with ServerProcess("raw") as server:        # doctest: +SKIP
    ...     print(server.base_url, server.stats())
    """

    def __init__(
        self,
        kind: str = "raw",
        *,
        token_ttl: int = 1200,
        cpu: int | None = None,
        startup_timeout: float = 15.0,
    ) -> None:
        self.kind = kind
        self.token_ttl = token_ttl
        self.cpu = cpu
        self.startup_timeout = startup_timeout
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}{PREFIX}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> ServerProcess:
        command = [sys.executable, "-m", "benchmarks._server", "--kind", self.kind]
        command += ["--token-ttl", str(self.token_ttl)]
        if self.cpu is not None:
            command += ["--cpu", str(self.cpu)]
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,  # closed when we exit, however we exit: the server follows
            stdout=subprocess.PIPE,
            cwd=Path(__file__).resolve().parent.parent,
        )
        try:
            self.port = self._read_port()
            self._wait_until_answering()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _read_port(self) -> int:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:  # bounded by the deadline
                if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                    continue
                line = proc.stdout.readline().decode()
                if line.startswith("PORT "):
                    return int(line.split()[1])
                if not line:
                    break
        raise RuntimeError(f"the {self.kind} benchmark server did not start")

    def _wait_until_answering(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:  # bounded by the deadline
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"the {self.kind} benchmark server does not answer")

    def _call(self, method: str, path: str) -> dict[str, Any]:
        connection = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            connection.request(method, path, body=b"" if method == "POST" else None)
            response = connection.getresponse()
            return dict(json.loads(response.read()))
        finally:
            connection.close()

    def stats(self) -> dict[str, int]:
        """The server's request counters (token grants by type, lookups, pages, in flight)."""
        return self._call("GET", "/__stats")

    def reset(self) -> None:
        self._call("POST", "/__reset")

    def configure(self, **settings: float) -> dict[str, Any]:
        """Change settings (``latency_ms``, ``authorizations_total``, ``per_day``,
        ``token_ttl``) for every later request; returns them all.

        >>> server.configure(latency_ms=5, per_day=3000)    # doctest: +SKIP
        """
        query = urllib.parse.urlencode(settings)
        return self._call("POST", "/__config" + (f"?{query}" if query else ""))

    def settings(self) -> dict[str, Any]:
        return self._call("GET", "/__config")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        finally:
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()


if __name__ == "__main__":
    _main()
