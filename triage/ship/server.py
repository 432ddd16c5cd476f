"""The intake server: receives bundles in chunks, checks them, files them write-once, logs custody.

Why aiohttp: request bodies are streamed (a 64 MiB chunk never sits whole in memory), the server
is a maintained production HTTP stack (keep-alive, chunked encoding, limits, TLS via ``ssl``),
and one process serves many slow uploaders at once. Everything that touches a bundle's bytes in
bulk (assembly, hashing, verification) runs in a worker thread so the event loop keeps answering.

Store layout (all under ``--store``)::

    <case>/<name>                 the bundle, mode 0444, never replaced
    <case>/<name>.sha256          sidecar "<hex>  <name>"
    <case>/<name>.receipt.json    the receipt given to the uploader
    custody.jsonl                 one JSON per event, each line chained to the previous one's SHA-256
    .staging/<upload id>/         meta.json, <name> (chunks written in place at their offsets) and
                                  chunks/NNNNNNNN (empty markers: chunk N arrived with the right SHA-256)
    .rejected/<case>/<id>/        assembled bundles that failed verification, kept with the reason
    .queue/                       (optional) one ticket per stored bundle for the analysis runner
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import shutil
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from triage import __version__
from triage.bundle.sidecar import write_sidecar
from triage.ship import protocol as P
from triage.ship.connections import ConnectionWatch
from triage.ship.custody import custody_line, cut, last_line_sha256
from triage.ship.received import fsync_file, verify_received, write_json_atomic
from triage.ship.request_body import HTTPProblem, parse_small_json
from triage.units import iso, utc_now

log = logging.getLogger("triage.serve")
_BLOCK = 256 << 10
MAX_JSON_BODY = 64 << 10        # an upload request is a few hundred bytes of JSON
SPACE_CHECK_EVERY = 16 << 20    # free space re-checked every this many bytes of a streamed body


@dataclass(slots=True)
class ServerConfig:
    store: Path
    tokens: list[P.CaseToken]
    max_bundle_size: int = P.DEFAULT_MAX_BUNDLE_SIZE
    max_chunk_size: int = P.DEFAULT_MAX_CHUNK_SIZE
    queue_dir: Path | None = None
    staging_ttl: float = 6 * 3600.0          # an upload without activity for this long is forgotten
    trust_forwarded: bool = False
    max_open_uploads: int = 8                 # per token: uploads started and not finished
    max_reserved_bytes: int = 2 * P.DEFAULT_MAX_BUNDLE_SIZE   # per token: bytes those uploads reserve
    header_timeout: float = 30.0              # a connection must send a request's headers within this
    body_timeout: float = 60.0                # a request body may pause this long between bytes
    min_free_bytes: int = 64 << 20            # every write leaves at least this much free in the store
    extra: dict = field(default_factory=dict)


def _json(status: int, body: dict) -> web.Response:
    return web.json_response(body, status=status, dumps=lambda o: json.dumps(o, indent=None))


class IntakeServer:
    """State and handlers; :meth:`app` builds the aiohttp application."""

    def __init__(self, config: ServerConfig) -> None:
        if not config.tokens:
            raise ValueError("no tokens: give --token or --token-file")
        self.config = config
        self.store = Path(config.store).resolve()
        self.staging = self.store / ".staging"
        self.rejected = self.store / ".rejected"
        for d in (self.store, self.staging, self.rejected):
            d.mkdir(parents=True, exist_ok=True)
        self.custody_path = self.store / "custody.jsonl"
        self._custody_prev = last_line_sha256(self.custody_path)
        self._locks: dict[str, list] = {}
        self.watch = ConnectionWatch(config.header_timeout)
        self._tokens = [(t, t.token.encode()) for t in config.tokens]
        self.hostname = socket.gethostname()
        self._expire_staging()

    # ------------------------------------------------------------------------------ application
    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 20, middlewares=[self._errors, self._auth])
        app.add_routes([
            web.post(f"{P.API}/uploads", self.create),
            web.get(f"{P.API}/uploads/{{upload_id}}", self.status),
            web.put(f"{P.API}/uploads/{{upload_id}}/chunks/{{index}}", self.put_chunk),
            web.post(f"{P.API}/uploads/{{upload_id}}/complete", self.complete),
            web.put(f"{P.API}/bundles/{{name}}", self.put_whole),
            web.get(f"{P.API}/health", self.health),
        ])
        return app

    @web.middleware
    async def _errors(self, request: web.Request, handler):
        self.watch.started(request.protocol)
        try:
            return await handler(request)
        except HTTPProblem as p:
            return _json(p.status, {"error": p.message, **p.details})
        finally:
            self.watch.finished(request.protocol)

    @web.middleware
    async def _auth(self, request: web.Request, handler):
        if request.path == f"{P.API}/health":
            return await handler(request)
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        found = None
        if scheme.lower() == "bearer" and presented:
            given = presented.strip().encode()
            for token, raw in self._tokens:          # no early exit: every token compared every time
                if hmac.compare_digest(given, raw):
                    found = token
        if found is None:
            log.warning("401 %s %s from %s", request.method, request.path, request.remote)
            raise web.HTTPUnauthorized(
                text=json.dumps({"error": "missing or wrong bearer token"}),
                content_type="application/json", headers={"WWW-Authenticate": 'Bearer realm="triage"'})
        request["case"] = found
        return await handler(request)

    async def health(self, request: web.Request) -> web.Response:
        return _json(200, {"ok": True, "software": f"triage {__version__}"})

    # ----------------------------------------------------------------------------------- create
    async def create(self, request: web.Request) -> web.Response:
        case: P.CaseToken = request["case"]
        body = parse_small_json(await self._read_small(request, MAX_JSON_BODY))
        name, size, sha, chunk_size = (body.get(k) for k in ("name", "size", "sha256", "chunk_size"))
        name = self._check_name(name)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise HTTPProblem(400, "size must be a non-negative integer")
        if size > self.config.max_bundle_size:
            raise HTTPProblem(413, f"bundle larger than this server accepts ({self.config.max_bundle_size})")
        if not P.is_sha256(sha):
            raise HTTPProblem(400, "sha256 must be 64 lower-case hex digits")
        if chunk_size is None:
            chunk_size = min(P.DEFAULT_CHUNK_SIZE, self.config.max_chunk_size)
        if not isinstance(chunk_size, int) or isinstance(chunk_size, bool) or chunk_size < P.MIN_CHUNK_SIZE:
            raise HTTPProblem(400, f"chunk_size must be an integer >= {P.MIN_CHUNK_SIZE}")
        chunk_size = min(chunk_size, self.config.max_chunk_size)    # the answer tells the client what to use

        stored = self._stored_answer(request, case, name, sha)
        if stored is not None:
            return stored
        uid = P.upload_id(case.case_id, name, sha)
        async with self._lock(uid):
            meta = self._load_meta(uid)
            created = meta is None
            if meta is None:
                self._expire_staging()
                pending = self._pending_uploads()
                mine = [m for m in pending if m["token_fingerprint"] == case.fingerprint]
                if len(mine) >= self.config.max_open_uploads:
                    raise HTTPProblem(429, f"this token already has {len(mine)} uploads open (limit "
                                      f"{self.config.max_open_uploads}): finish or let them expire first")
                reserved = sum(m["pending"] for m in mine)
                if reserved + size > self.config.max_reserved_bytes:
                    raise HTTPProblem(429, f"this token's open uploads already reserve {reserved} bytes; "
                                      f"{size} more is above its quota of {self.config.max_reserved_bytes}")
                self._require_space(size + sum(m["pending"] for m in pending),
                                    "this bundle (counting the uploads in progress)")
                meta = {"id": uid, "case": case.case_id, "name": name, "size": size, "sha256": sha,
                        "chunk_size": chunk_size, "created_utc": iso(utc_now()),
                        "client_address": request.remote, "token_fingerprint": case.fingerprint}
                d = self.staging / uid
                (d / "chunks").mkdir(parents=True, exist_ok=True)
                with open(d / name, "wb") as fh:       # sparse until the chunks fill it
                    fh.truncate(size)
                write_json_atomic(d / "meta.json", meta)
                log.info("upload %s started: %s/%s (%d bytes) from %s", uid, case.case_id, name, size,
                         request.remote)
        return _json(201 if created else 200, self._status_body(meta))

    def _stored_answer(self, request, case: P.CaseToken, name: str, sha: str) -> web.Response | None:
        """Write-once rules: same name+hash already stored -> receipt; same name, other hash -> 409."""
        final = self.store / case.case_id / name
        if not final.exists():
            return None
        receipt = self._read_receipt(final)
        if receipt.get("sha256") == sha:
            receipt = {**receipt, "state": "already_stored",
                       "this_request": {"time_utc": iso(utc_now()), "client_address": request.remote}}
            self._custody("already_stored", request, case, name=name, size=receipt.get("size"), sha256=sha)
            return _json(200, {"state": "stored", "receipt": receipt})
        self._custody("conflict", request, case, name=name, sha256=sha, stored_sha256=receipt.get("sha256"))
        raise HTTPProblem(409, f"a different bundle named {name} is already stored in case {case.case_id}",
                          stored_sha256=receipt.get("sha256"))

    # ----------------------------------------------------------------------------------- status
    async def status(self, request: web.Request) -> web.Response:
        meta = self._meta_for(request)
        return _json(200, self._status_body(meta))

    def _status_body(self, meta: dict) -> dict:
        return {"id": meta["id"], "state": "receiving", "name": meta["name"], "size": meta["size"],
                "sha256": meta["sha256"], "chunk_size": meta["chunk_size"],
                "chunks": P.chunk_count(meta["size"], meta["chunk_size"]),
                "received": self._received(meta["id"])}

    def _received(self, uid: str) -> list[int]:
        try:
            names = os.listdir(self.staging / uid / "chunks")
        except FileNotFoundError:
            return []
        return sorted(int(n) for n in names if n.isdigit())

    # -------------------------------------------------------------------------------- put chunk
    async def put_chunk(self, request: web.Request) -> web.Response:
        meta = self._meta_for(request)
        try:
            index = int(request.match_info["index"])
        except ValueError:
            raise HTTPProblem(400, "chunk index must be an integer") from None
        count = P.chunk_count(meta["size"], meta["chunk_size"])
        if not 0 <= index < count:
            raise HTTPProblem(400, f"chunk index {index} out of range 0..{count - 1}")
        want_hash = request.headers.get(P.CHUNK_HASH_HEADER, "").strip().lower()
        if not P.is_sha256(want_hash):
            raise HTTPProblem(400, f"header {P.CHUNK_HASH_HEADER} with the chunk's SHA-256 is required")
        expected = P.chunk_length(index, meta["size"], meta["chunk_size"])
        if request.content_length is not None and request.content_length != expected:
            raise HTTPProblem(400 if request.content_length < expected else 413,
                              f"chunk {index} must be {expected} bytes, Content-Length says "
                              f"{request.content_length}")
        workdir = self.staging / meta["id"]
        marker = workdir / "chunks" / f"{index:08d}"
        # One request per chunk at a time: a retry racing a slow first attempt must not interleave writes.
        # A stalled holder loses the lock after body_timeout (the read below times out).
        async with self._lock(f"{meta['id']}/{index}"):
            held = marker.exists()        # a chunk already held is checked but never rewritten
            if not held:
                self._require_space(expected, f"chunk {index}")
            got, digest = await self._receive(request, workdir / meta["name"], expected,
                                              offset=index * meta["chunk_size"], write=not held)
            if got != expected:
                raise HTTPProblem(400, f"chunk {index}: got {got} bytes, expected {expected}")
            if digest != want_hash:
                raise HTTPProblem(422, f"chunk {index}: SHA-256 mismatch, chunk rejected; send it again",
                                  index=index, sha256=digest)
            if not held:
                marker.touch()
        return _json(200, {"index": index, "size": got, "sha256": digest})

    async def _receive(self, request: web.Request, dest: Path, limit: int, offset: int | None = None,
                       write: bool = True) -> tuple[int, str]:
        """Stream the body into ``dest`` hashing it: at ``offset`` in an existing file (chunks), or as a
        new file (whole-file PUT). 413 past ``limit``; a dropped connection propagates (the bytes
        written so far are not marked as held, so they count for nothing)."""
        digest = hashlib.sha256()
        got = 0
        try:
            if offset is None:
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            else:
                fd = os.open(dest, os.O_WRONLY)
        except FileNotFoundError:
            raise HTTPProblem(404, "upload vanished (completed or expired): start it again") from None
        try:
            next_check = SPACE_CHECK_EVERY
            while True:
                block = await self._read_body(request, _BLOCK)
                if not block:
                    break
                if got + len(block) > limit:
                    raise HTTPProblem(413, f"body larger than {limit} bytes")
                if write and offset is None and got + len(block) >= next_check:   # a growing new file
                    self._require_space(0, "the rest of this body")
                    next_check += SPACE_CHECK_EVERY
                digest.update(block)
                if write:
                    if offset is None:
                        os.write(fd, block)
                    else:
                        os.pwrite(fd, block, offset + got)
                got += len(block)
        finally:
            os.close(fd)
        return got, digest.hexdigest()

    # --------------------------------------------------------------------------------- complete
    async def complete(self, request: web.Request) -> web.Response:
        meta = self._meta_for(request)
        case: P.CaseToken = request["case"]
        async with self._lock(meta["id"]):
            if not (self.staging / meta["id"]).is_dir():
                raise HTTPProblem(404, "upload vanished (completed or expired): start it again")
            count = P.chunk_count(meta["size"], meta["chunk_size"])
            missing = sorted(set(range(count)) - set(self._received(meta["id"])))
            if missing:
                raise HTTPProblem(409, f"{len(missing)} chunk(s) missing", missing=missing[:10000])
            return await self._finish(request, case, meta, self.staging / meta["id"] / meta["name"], None)

    async def put_whole(self, request: web.Request) -> web.Response:
        """Whole-file PUT for ``curl -T`` users: not resumable, same checks, same store."""
        case: P.CaseToken = request["case"]
        name = request.match_info["name"]
        self._check_name(name)
        sha = request.headers.get(P.CONTENT_HASH_HEADER, "").strip().lower()
        if not P.is_sha256(sha):
            raise HTTPProblem(400, f"header {P.CONTENT_HASH_HEADER} with the bundle's SHA-256 is required")
        stored = self._stored_answer(request, case, name, sha)
        if stored is not None:
            return stored
        size = request.content_length
        if size is not None and size > self.config.max_bundle_size:
            raise HTTPProblem(413, f"bundle larger than this server accepts ({self.config.max_bundle_size})")
        self._require_space((size or 0) + sum(m["pending"] for m in self._pending_uploads()),
                            "this bundle (counting the uploads in progress)")
        uid = "put-" + P.upload_id(case.case_id, name, sha) + "-" + os.urandom(4).hex()
        workdir = self.staging / uid
        workdir.mkdir(parents=True)
        try:
            assembled = workdir / name
            got, digest = await self._receive(request, assembled, self.config.max_bundle_size)
            meta = {"id": uid, "case": case.case_id, "name": name, "size": got, "sha256": sha,
                    "created_utc": iso(utc_now()), "client_address": request.remote}
            return await self._finish(request, case, meta, assembled, digest)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    async def _finish(self, request, case: P.CaseToken, meta: dict, assembled: Path,
                      digest: str | None) -> web.Response:
        """Whole-file SHA-256, verification, then the write-once move into the store.

        The verifier reads the whole file and returns its SHA-256, so one pass over the bundle gives
        both checks (``digest`` is the hash computed while receiving, for the whole-file PUT)."""
        workdir = assembled.parent
        name, sha = meta["name"], meta["sha256"]
        if digest is not None and digest != sha:
            self._hash_mismatch(request, case, meta, workdir, digest)
        write_sidecar(workdir / name, sha)
        await asyncio.to_thread(fsync_file, assembled)
        verification = await asyncio.to_thread(verify_received, assembled)
        if verification.get("sha256") != sha:
            self._hash_mismatch(request, case, meta, workdir, verification.get("sha256"))
        if not verification["ok"]:
            dest = self.rejected / case.case_id / meta["id"]
            dest.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(OSError):
                shutil.rmtree(workdir / "chunks", ignore_errors=True)
                os.replace(workdir, dest)
                write_json_atomic(dest / "rejection.json", {"meta": meta, "verification": verification})
            self._custody("rejected", request, case, name=name, size=assembled.stat().st_size
                          if assembled.exists() else None, sha256=sha, reason="verification failed",
                          problems=verification["problems"][:20],
                          problem_count=verification.get("problem_count", len(verification["problems"])))
            raise HTTPProblem(422, "bundle failed verification; kept aside on the server, not stored",
                              verification=verification)
        case_dir = self.store / case.case_id
        case_dir.mkdir(exist_ok=True)
        final = case_dir / name
        try:
            os.link(assembled, final)                # atomic and never replaces: the write-once point
        except FileExistsError:
            shutil.rmtree(workdir, ignore_errors=True)
            answer = self._stored_answer(request, case, name, sha)
            assert answer is not None
            return answer
        os.chmod(final, 0o444)
        size = final.stat().st_size
        side = write_sidecar(case_dir / name, sha)
        os.chmod(side, 0o444)
        now = iso(utc_now())
        receipt = {
            "receipt_version": 1, "state": "stored", "case": case.case_id, "name": name, "size": size,
            "sha256": sha, "stored_as": f"{case.case_id}/{name}", "received_utc": now,
            "upload_started_utc": meta.get("created_utc"), "client_address": request.remote,
            "forwarded_for": self._forwarded(request), "token_fingerprint": case.fingerprint,
            "upload_id": meta["id"], "verification": verification,
            "server": {"software": f"triage {__version__}", "host": self.hostname},
        }
        write_json_atomic(case_dir / f"{name}.receipt.json", receipt)
        self._custody("stored", request, case, name=name, size=size, sha256=sha, upload_id=meta["id"])
        if self.config.queue_dir is not None:
            self._enqueue(final, receipt)
        shutil.rmtree(workdir, ignore_errors=True)
        log.info("stored %s/%s (%d bytes, sha256 %s) from %s", case.case_id, name, size, sha, request.remote)
        return _json(200, {"state": "stored", "receipt": receipt})

    def _hash_mismatch(self, request, case: P.CaseToken, meta: dict, workdir: Path, got: str | None):
        """Every chunk matched its hash yet the whole does not (server lost data in a crash, or the
        client declared a wrong hash): discard and tell the client to start over."""
        self._custody("rejected", request, case, name=meta["name"], sha256=meta["sha256"], received_sha256=got,
                      reason="whole-file SHA-256 mismatch")
        shutil.rmtree(workdir, ignore_errors=True)
        raise HTTPProblem(422, "whole-file SHA-256 does not match the declared one; upload discarded, "
                          "start again", received_sha256=got, restart=True)

    # ---------------------------------------------------------------------------------- helpers
    def _check_name(self, name: object) -> str:
        """The name, when it is an acceptable bundle name (a string: name_problem says so); else 400."""
        problem = P.name_problem(name)
        if problem or not isinstance(name, str):
            raise HTTPProblem(400, f"bad bundle name: {problem or 'not a string'}")
        return name

    def _meta_for(self, request: web.Request) -> dict:
        uid = request.match_info["upload_id"]
        if not P.is_upload_id(uid):
            raise HTTPProblem(404, "no such upload")
        meta = self._load_meta(uid)
        if meta is None or meta.get("case") != request["case"].case_id:   # other cases' uploads are invisible
            raise HTTPProblem(404, "no such upload (completed, expired or never started)")
        return meta

    def _load_meta(self, uid: str) -> dict | None:
        try:
            return json.loads((self.staging / uid / "meta.json").read_text())
        except (FileNotFoundError, NotADirectoryError, ValueError):
            return None

    @contextlib.asynccontextmanager
    async def _lock(self, key: str):
        """Per-key mutex, forgotten once nobody holds or waits for it (memory stays flat)."""
        entry = self._locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:
                yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._locks.pop(key, None)

    def _read_receipt(self, final: Path) -> dict:
        try:
            return json.loads(final.with_name(final.name + ".receipt.json").read_text())
        except (OSError, ValueError):
            # stored but the receipt was never written (crash between link and receipt): hash the file
            h = hashlib.sha256()
            with open(final, "rb") as fh:
                while block := fh.read(1 << 20):
                    h.update(block)
            return {"name": final.name, "size": final.stat().st_size, "sha256": h.hexdigest(),
                    "state": "stored", "note": "receipt missing; rebuilt from the stored file"}

    def _pending_uploads(self) -> list[dict]:
        """The uploads in progress: token fingerprint and the bytes each will still write (staged files
        are sparse until filled), for the free-space check and the per-token quotas."""
        out = []
        for d in self.staging.iterdir():
            meta = self._load_meta(d.name) if P.is_upload_id(d.name) else None
            if meta:
                held = len(self._received(d.name))
                out.append({"id": d.name, "token_fingerprint": meta.get("token_fingerprint"),
                            "pending": max(0, meta["size"] - held * meta["chunk_size"])})
        return out

    def _require_space(self, need: int, what: str) -> None:
        """507 unless writing ``need`` more bytes leaves min_free_bytes free in the store."""
        free = shutil.disk_usage(self.store).free
        if free < need + self.config.min_free_bytes:
            raise HTTPProblem(507, f"not enough free space in the store for {what} ({free} bytes free, "
                              f"{self.config.min_free_bytes} kept in reserve)")

    async def _read_body(self, request: web.Request, n: int) -> bytes:
        """Up to ``n`` body bytes; 408 when the client sends nothing for body_timeout seconds (a stalled
        upload must not hold its chunk's lock, or a connection, for ever)."""
        try:
            return await asyncio.wait_for(request.content.read(n), self.config.body_timeout)
        except TimeoutError:
            raise HTTPProblem(408, f"no body bytes for {self.config.body_timeout:g} s: request abandoned") from None

    async def _read_small(self, request: web.Request, limit: int) -> bytes:
        """A whole small body (JSON requests): 413 past ``limit`` bytes, 408 when it stalls."""
        if request.content_length is not None and request.content_length > limit:
            raise HTTPProblem(413, f"request body larger than {limit} bytes")
        parts, size = [], 0
        while block := await self._read_body(request, 16 << 10):
            size += len(block)
            if size > limit:
                raise HTTPProblem(413, f"request body larger than {limit} bytes")
            parts.append(block)
        return b"".join(parts)

    def _forwarded(self, request: web.Request) -> str | None:
        """X-Forwarded-For, only from a trusted TLS terminator (``--trust-forwarded``): anyone else can
        write any address there, and it must not land in receipts or the custody log as a fact."""
        value = request.headers.get("X-Forwarded-For")
        return str(cut(value)) if (value and self.config.trust_forwarded) else None

    def _custody(self, event: str, request, case: P.CaseToken, **fields) -> None:
        """Append one event to custody.jsonl; each line carries the SHA-256 of the previous line."""
        record = {"event": event, "time_utc": iso(utc_now()), "case": case.case_id,
                  "token_fingerprint": case.fingerprint, "client_address": request.remote,
                  "forwarded_for": self._forwarded(request),
                  "user_agent": request.headers.get("User-Agent"), **fields}
        line = custody_line(record, self._custody_prev)
        fd = os.open(self.custody_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._custody_prev = hashlib.sha256(line).hexdigest()

    def _enqueue(self, final: Path, receipt: dict) -> None:
        if self.config.queue_dir is None:
            return
        q = Path(self.config.queue_dir)
        q.mkdir(parents=True, exist_ok=True)
        ticket = {"bundle": str(final), "case": receipt["case"], "sha256": receipt["sha256"],
                  "received_utc": receipt["received_utc"]}
        write_json_atomic(q / f"{int(time.time() * 1000)}-{receipt['sha256'][:16]}.json", ticket)

    def _expire_staging(self) -> None:
        """Forget uploads with no activity (no chunk written, no marker added) for staging_ttl seconds,
        releasing what they reserved; uploads whose lock is held right now are active by definition."""
        cutoff = time.time() - self.config.staging_ttl
        busy = {k.split("/", 1)[0] for k in self._locks}
        for d in self.staging.iterdir():
            if d.name in busy:
                continue
            with contextlib.suppress(OSError):
                last = max(p.stat().st_mtime for p in (d, *d.iterdir(), *(d / "chunks").glob("*"))
                           if p.exists()) if d.is_dir() else d.stat().st_mtime
                if last < cutoff:
                    shutil.rmtree(d)
                    log.info("expired abandoned upload %s", d.name)

    async def housekeeping(self, runner: web.AppRunner) -> None:
        """Runs beside the server: closes connections that stall before sending a request (headers),
        and expires abandoned uploads every few minutes (not only at start-up)."""
        next_expiry = time.monotonic()
        while True:
            await asyncio.sleep(min(1.0, self.config.header_timeout / 4))
            if runner.server is not None:
                self.watch.sweep(runner.server.connections)
            if time.monotonic() >= next_expiry:
                next_expiry = time.monotonic() + min(300.0, self.config.staging_ttl / 4)
                try:
                    self._expire_staging()
                except OSError as exc:
                    log.warning("staging expiry failed: %s", exc)


async def serve(config: ServerConfig, host: str, port: int, ssl_context=None,
                ready=None) -> None:
    """Run until cancelled (SIGINT/SIGTERM handled by the caller). ``ready(url)`` is called once listening."""
    server = IntakeServer(config)
    runner = web.AppRunner(server.app(), access_log=log)
    await runner.setup()
    housekeeping = asyncio.ensure_future(server.housekeeping(runner))
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    sockets = getattr(site._server, "sockets", None) or []   # the real port when --port 0
    actual = sockets[0].getsockname()[1] if sockets else port
    scheme = "https" if ssl_context else "http"
    shown = f"[{host}]" if ":" in host else host
    if ready:
        ready(f"{scheme}://{shown}:{actual}")
    try:
        await asyncio.Event().wait()
    finally:
        housekeeping.cancel()
        await runner.cleanup()
