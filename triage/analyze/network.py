"""Off-network windows: when was the host neither on the corporate network nor on the VPN?

Why: activity while a laptop is off the corporate network (no domain network, no VPN) escapes the
network sensors (proxy, IDS, EDR network telemetry), so findings in such a window deserve a flag.

Evidence model, from :class:`~triage.model.ConnectivityEvent` records:
  * NetworkProfile 10000 'connected' with category 'domain' (Category 2, DomainAuthenticated): that
    network is on. The same network connected again with another category, or 'disconnected', is off.
    A network is identified by its profile GUID (details['guid']), else by its name.
  * 'vpn_connected' / 'vpn_disconnected' (RasClient 20225/20226, VPN plugin platform): a VPN tunnel
    up/down, identified by its connection name ('vpn_disconnected' without a name ends every tunnel).
  * NCSI ('ncsi') and firewall profile ('firewall_profile') events never open or close a window:
    Internet reachability says nothing about the corporate network, and the firewall's per-interface
    profile repeats what NetworkProfile already logged. They are kept as evidence inside windows.

The host is *on* while at least one domain network or VPN tunnel is up, *off* otherwise. Nothing is
known before the first connected/disconnected/VPN event, so no window starts before it (a host
that only ever sees Public networks, as in every corpus museum set, is off from its first such
event on). Events at the same instant are applied together, so a domain network that reconnects
within one timestamp never opens a zero-length window. ``end=None`` means still off when the logs end.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import groupby
from typing import Any

from triage.model import ConnectivityEvent, EventLogStats, Source
from triage.units import iso

STATE_KINDS = frozenset({"connected", "disconnected", "vpn_connected", "vpn_disconnected"})
# Events of a window kept as evidence besides the ones that open and close it.
MAX_EVIDENCE = 50


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowEvidence:
    """One connectivity record behind a window: what it says and where it is."""

    timestamp: datetime
    description: str
    source: Source
    role: str  # 'start' (it turned the host off), 'end' (it brought it back), 'during'

    def to_dict(self) -> dict[str, Any]:
        return {**self.source.to_dict(), "timestamp": iso(self.timestamp), "description": self.description,
                "role": self.role}


@dataclass(frozen=True, slots=True, kw_only=True)
class OffNetworkWindow:
    """A span with no domain network and no VPN connected. start inclusive, end exclusive;
    end None = still off when the logs end. events_during counts every connectivity event inside
    (evidence keeps at most MAX_EVIDENCE of them)."""

    start: datetime
    end: datetime | None
    evidence: tuple[WindowEvidence, ...] = ()
    events_during: int = 0

    def contains(self, ts: datetime) -> bool:
        return self.start <= ts and (self.end is None or ts < self.end)

    def to_dict(self) -> dict[str, Any]:
        return {"start": iso(self.start), "end": iso(self.end), "events_during": self.events_during,
                "evidence": [e.to_dict() for e in self.evidence]}


def describe(ev: ConnectivityEvent) -> str:
    """One line for an analyst: which network, which category, what happened."""
    if ev.kind in ("connected", "disconnected"):
        return f"network {ev.network!r} ({ev.network_category or 'unknown category'}) {ev.kind}"
    if ev.kind.startswith("vpn_"):
        return f"VPN {ev.network or '?'} {ev.kind.removeprefix('vpn_')}"
    if ev.kind == "ncsi":
        return (f"internet capability {ev.details.get('previous_capability_name')} -> "
                f"{ev.details.get('capability_name')}")
    if ev.kind == "firewall_profile":
        old = "+".join(ev.details.get("old_profiles") or ["?"])
        new = "+".join(ev.details.get("new_profiles") or ["?"])
        return f"firewall profile of {ev.network or '?'}: {old} -> {new}"
    return f"{ev.kind} {ev.network or ''}".strip()


def _network_key(ev: ConnectivityEvent) -> str:
    guid = ev.details.get("guid") if isinstance(ev.details, dict) else None
    return str(guid or ev.network or "?").lower()


class _State:
    """Which domain networks and VPN tunnels are up."""

    def __init__(self) -> None:
        self.domain: set[str] = set()
        self.vpn: set[str] = set()

    def apply(self, ev: ConnectivityEvent) -> None:
        if ev.kind == "connected":
            if ev.network_category == "domain":
                self.domain.add(_network_key(ev))
            else:  # the same network re-identified as public/private is no longer corporate
                self.domain.discard(_network_key(ev))
        elif ev.kind == "disconnected":
            self.domain.discard(_network_key(ev))
        elif ev.kind == "vpn_connected":
            self.vpn.add((ev.network or "?").lower())
        elif ev.kind == "vpn_disconnected":
            if ev.network:
                self.vpn.discard(ev.network.lower())
            else:
                self.vpn.clear()

    @property
    def on(self) -> bool:
        return bool(self.domain or self.vpn)


def _evidence(events: list[ConnectivityEvent], role: str) -> list[WindowEvidence]:
    return [WindowEvidence(timestamp=e.timestamp, description=describe(e), source=e.source, role=role)
            for e in events]


def off_network_windows(events: Iterable[Any], log_start: datetime | None = None,
                        log_end: datetime | None = None) -> list[OffNetworkWindow]:
    """Off-network windows from connectivity events (any order; other records are ignored, so a
    host's whole record list can be passed), bounded by the logs' time span.

    log_start / log_end: earliest and latest record time of the host's logs (None = unknown).
    Windows are clipped to that span (a window still open at the end keeps end=None); events
    outside it still move the state.
    """
    evs = sorted((e for e in events if isinstance(e, ConnectivityEvent)), key=lambda e: e.timestamp)
    state = _State()
    windows: list[OffNetworkWindow] = []
    start: datetime | None = None
    evidence: list[WindowEvidence] = []
    during = 0

    def close(end: datetime | None) -> None:
        s = start if log_start is None or start is None else max(start, log_start)
        e = end if end is None or log_end is None else min(end, log_end)
        if s is None or (log_end is not None and s > log_end) or (e is not None and e <= s):
            return
        windows.append(OffNetworkWindow(start=s, end=e, evidence=tuple(evidence), events_during=during))

    for ts, group in groupby(evs, key=lambda e: e.timestamp):
        batch = list(group)
        movers = [e for e in batch if e.kind in STATE_KINDS]
        others = [e for e in batch if e.kind not in STATE_KINDS]
        for e in movers:
            state.apply(e)
        if start is None:
            if not movers or state.on:
                continue
            start, evidence, during = ts, _evidence(movers, "start"), 0  # goes (or is first seen) off
        elif movers and state.on:  # back on the domain network or the VPN
            evidence += _evidence(movers, "end")
            close(ts)
            start, evidence, during = None, [], 0
            continue
        else:
            others = batch
        kept = sum(1 for x in evidence if x.role == "during")
        evidence += _evidence(others, "during")[:max(MAX_EVIDENCE - kept, 0)]
        during += len(others)
    if start is not None:
        close(None)
    return windows


def log_span(records: Iterable[Any]) -> tuple[datetime | None, datetime | None]:
    """(earliest, latest) record time over the host's event logs (EventLogStats first/last), the
    bounds to pass to off_network_windows; (None, None) when no log has records."""
    firsts, lasts = [], []
    for r in records:
        if isinstance(r, EventLogStats):
            if r.first is not None:
                firsts.append(r.first)
            if r.last is not None:
                lasts.append(r.last)
    return (min(firsts) if firsts else None, max(lasts) if lasts else None)


def in_window(ts: datetime | None, windows: Iterable[OffNetworkWindow]) -> bool:
    """True if ts falls inside any off-network window (start inclusive, end exclusive)."""
    if ts is None:
        return False
    return any(w.contains(ts) for w in windows)


__all__ = ["OffNetworkWindow", "WindowEvidence", "describe", "in_window", "log_span", "off_network_windows"]
