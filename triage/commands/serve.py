"""``triage serve --store DIR --token CASE:T``: the analyst-side intake server.

Binds 127.0.0.1 by default; put it behind the operator's TLS terminator (then pass
``--trust-forwarded`` to record X-Forwarded-For in receipts) or give ``--tls-cert``/``--tls-key``.
Prints ``listening on URL`` once ready (with ``--port 0`` the URL holds the port it got).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import signal
import ssl
import sys
from pathlib import Path

from triage.ship import protocol as P
from triage.ship.server import ServerConfig, serve
from triage.units import parse_duration, parse_size


def configure(parser) -> None:
    parser.add_argument("--store", required=True, help="evidence store directory (created if missing)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8443, help="port (default 8443; 0 picks a free one)")
    parser.add_argument("--token", action="append", default=[], metavar="[CASE:]TOKEN",
                        help="bearer token, optionally bound to a case id (repeatable; bare tokens go to "
                        "case 'default')")
    parser.add_argument("--token-file", metavar="FILE", help="one 'case_id:token' per line")
    parser.add_argument("--tls-cert", help="PEM certificate (chain) to serve HTTPS")
    parser.add_argument("--tls-key", help="PEM private key for --tls-cert")
    parser.add_argument("--max-bundle-size", default="64GiB", help="largest bundle accepted (default 64GiB)")
    parser.add_argument("--max-chunk-size", default="64MiB", help="largest chunk accepted (default 64MiB)")
    parser.add_argument("--queue-dir", help="drop a JSON ticket here for each stored bundle (analysis queue)")
    parser.add_argument("--staging-ttl", default="6h",
                        help="forget unfinished uploads with no activity for this long, releasing the space "
                        "they reserved (default 6h)")
    parser.add_argument("--max-open-uploads", type=int, default=8, metavar="N",
                        help="uploads one token may have open at once (default 8)")
    parser.add_argument("--token-quota", default="128GiB", metavar="SIZE",
                        help="bytes one token's open uploads may reserve (default 128GiB)")
    parser.add_argument("--header-timeout", default="30s",
                        help="close connections that do not send a request's headers within this (default 30s)")
    parser.add_argument("--body-timeout", default="60s",
                        help="abandon a request whose body sends nothing for this long (default 60s)")
    parser.add_argument("--min-free", default="64MiB", metavar="SIZE",
                        help="refuse writes (507) that would leave less free space in the store (default 64MiB)")
    parser.add_argument("--trust-forwarded", action="store_true",
                        help="record X-Forwarded-For from the TLS terminator in receipts and the custody log "
                        "(without it the header is ignored: any client can write any address there)")
    parser.add_argument("--quiet", action="store_true", help="log warnings only")
    parser.add_argument("--check-custody", action="store_true",
                        help="check the store's custody log hash chain, print the result and exit")


def run(args) -> int:
    if args.check_custody:
        from triage.ship.custody import verify_custody_log

        log_path = Path(args.store) / "custody.jsonl"
        count, problems = verify_custody_log(log_path)
        for p in problems:
            print(f"  - {p}")
        print(f"{'OK' if not problems else 'FAILED'}  {log_path}  {count} line(s)")
        return 1 if problems else 0
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        tokens = [P.parse_token(t) for t in args.token]
        if args.token_file:
            tokens += P.parse_token_file(Path(args.token_file).read_text())
        config = ServerConfig(store=Path(args.store), tokens=tokens,
                              max_bundle_size=parse_size(args.max_bundle_size),
                              max_chunk_size=parse_size(args.max_chunk_size),
                              queue_dir=Path(args.queue_dir) if args.queue_dir else None,
                              staging_ttl=parse_duration(args.staging_ttl),
                              trust_forwarded=args.trust_forwarded,
                              max_open_uploads=args.max_open_uploads,
                              max_reserved_bytes=parse_size(args.token_quota),
                              header_timeout=parse_duration(args.header_timeout),
                              body_timeout=parse_duration(args.body_timeout),
                              min_free_bytes=parse_size(args.min_free))
        if config.max_open_uploads < 1 or min(config.header_timeout, config.body_timeout, config.staging_ttl) <= 0:
            raise ValueError("--max-open-uploads, the timeouts and --staging-ttl must be positive")
        if not tokens:
            raise ValueError("no tokens: give --token or --token-file")
        if len({t.token for t in tokens}) != len(tokens):
            raise ValueError("the same token is given twice")
        context = None
        if args.tls_cert or args.tls_key:
            if not (args.tls_cert and args.tls_key):
                raise ValueError("--tls-cert and --tls-key go together")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(args.tls_cert, args.tls_key)
    except (ValueError, OSError, ssl.SSLError) as exc:
        print(f"triage serve: {exc}", file=sys.stderr)
        return 2
    if context is None and not _loopback(args.host):
        print(f"triage serve: WARNING: plain HTTP on {args.host}: bearer tokens and bundles travel "
              "unencrypted unless a TLS terminator is in front", file=sys.stderr)

    def ready(url: str) -> None:
        print(f"triage serve: listening on {url} (store {Path(args.store).resolve()}, "
              f"{len(tokens)} token(s))", flush=True)

    async def main() -> None:
        task = asyncio.ensure_future(serve(config, args.host, args.port, context, ready))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        asyncio.run(main())
    except OSError as exc:  # the address is taken or not ours: the command line cannot be acted on
        print(f"triage serve: {exc}", file=sys.stderr)
        return 2
    return 0


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
