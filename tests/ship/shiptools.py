"""Helpers for ship tests: run the real CLI, make encrypted bundles of any size, a TCP proxy that
misbehaves on purpose (drops or corrupts), a handle on a running ``triage serve``."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from triage.bundle.reader import file_sha256 as sha256_file  # noqa: F401 -- the ship tests import it from here
from triage.bundle.sidecar import write_sidecar
from triage.ship import encrypt

REPO = Path(__file__).resolve().parents[2]
TOKEN_A = "case-a-token-0123456789abcdef"
TOKEN_B = "case-b-token-fedcba9876543210"
ENV = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
       "PYTHONUNBUFFERED": "1"}


def triage(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Run the real CLI in a subprocess (as a user would)."""
    return subprocess.run([sys.executable, "-m", "triage", *map(str, args)], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=timeout, **kw)


def triage_popen(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "triage", *map(str, args)], cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


@dataclass
class Server:
    url: str
    store: Path
    proc: subprocess.Popen

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        log = self.store.with_name(self.store.name + ".log")
        return log.read_text() if log.exists() else ""

    def stored(self, case: str = "a") -> list[Path]:
        d = self.store / case
        return sorted(p for p in d.iterdir() if p.suffix in (".zip", ".tbe")) if d.is_dir() else []

    def staging_files(self) -> list[Path]:
        return [p for p in (self.store / ".staging").rglob("*") if p.is_file()]


def make_encrypted(dest_dir: Path, plain_size: int, public_key, seed: int = 0,
                   segment_size: int = 64 << 10) -> Path:
    """An encrypted bundle of ``plain_size`` pseudo-random bytes (+ sidecar), quick to make in any size."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    path = dest_dir / encrypt.encrypted_name()
    block = hashlib.sha256(str(seed).encode()).digest() * 2048          # 64 KiB, seed-dependent
    with open(path, "xb") as fh:
        w = encrypt.EncryptingWriter(fh, [public_key], f"host-{seed:03d}_20260101T000000Z.zip", segment_size)
        left = plain_size
        while left > 0:
            n = min(left, len(block))
            w.write(block[:n])
            left -= n
        w.close()
    write_sidecar(path, w.sha256)
    return path


class FaultyProxy:
    """A TCP proxy on 127.0.0.1 in its own thread. ``on_client_data(conn_no, offset, data)`` returns
    ``(bytes to forward, drop)``: with ``drop`` the connection is cut right after forwarding."""

    def __init__(self, target_host: str, target_port: int, on_client_data) -> None:
        self.target = (target_host, target_port)
        self.hook = on_client_data
        self.connections = 0
        self.dropped = 0
        self.port: int | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._server = server
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, reader, writer) -> None:
        self.connections += 1
        conn = self.connections
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return

        async def client_to_server():
            offset = 0
            while data := await reader.read(65536):
                out, drop = self.hook(conn, offset, data)
                offset += len(data)
                if out:
                    up_writer.write(out)
                    await up_writer.drain()
                if drop:
                    self.dropped += 1
                    await asyncio.sleep(0.2)          # let the server read the partial request first
                    writer.transport.abort()
                    up_writer.transport.abort()
                    return
            if up_writer.can_write_eof():
                up_writer.write_eof()

        async def server_to_client():
            while data := await up_reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        await asyncio.gather(client_to_server(), server_to_client(), return_exceptions=True)
        for w in (writer, up_writer):
            w.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return False
