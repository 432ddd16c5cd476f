"""The intake server's header timeout (aiohttp has none): slow-loris connections are closed."""

from __future__ import annotations

import time


class ConnectionWatch:
    """Header timeout: every connection must deliver a request's headers within ``timeout`` seconds of
    opening, or of its previous response. aiohttp has no such timeout, so a client that opens a
    connection and sends headers one byte a minute would hold it for ever; :meth:`sweep`, called
    every second or so, closes those. Bodies have their own timeout (``body_timeout``)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline: dict[object, float | None] = {}    # None: a request is being handled

    def started(self, protocol: object) -> None:
        self.deadline[protocol] = None

    def finished(self, protocol: object) -> None:
        self.deadline[protocol] = time.monotonic() + self.timeout

    def sweep(self, connections: list) -> int:
        now = time.monotonic()
        live = set(connections)
        for gone in [p for p in self.deadline if p not in live]:
            del self.deadline[gone]
        closed = 0
        for conn in live:
            if conn not in self.deadline:
                self.deadline[conn] = now + self.timeout
            elif (d := self.deadline[conn]) is not None and now > d:
                transport = getattr(conn, "transport", None)
                if transport is not None:
                    transport.close()
                    closed += 1
                del self.deadline[conn]
        return closed
