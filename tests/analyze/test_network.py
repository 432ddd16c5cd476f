"""Off-network windows: the state logic on constructed ConnectivityEvent records (domain network
on/off, VPN up/down, overlaps, still off at the end), and the museum log sets parsed for real.

The corpus holds no domain network and no VPN record (see corpus README "Known gaps"), so every
on-network transition is tested on constructed records; the museum sets check the public-only case
end to end against truth.json.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from triage.analyze.network import MAX_EVIDENCE, OffNetworkWindow, in_window, off_network_windows
from triage.model import ConnectivityEvent, Source
from triage.parsers.base import input_from_file
from triage.parsers.evtx.parser import EvtxParser

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)


def at(minute: float) -> datetime:
    return T0 + timedelta(minutes=minute)


def ev(kind: str, minute: float, network: str | None = "corp.example", category: str | None = None,
       guid: str | None = None, rid: int = 1) -> ConnectivityEvent:
    details = {"guid": guid} if guid else {}
    return ConnectivityEvent(source=Source(bundle_path="files/C/x.evtx", locator=f"record {rid}"),
                             timestamp=at(minute), kind=kind, network=network, network_category=category,
                             details=details)


def spans(windows: list[OffNetworkWindow]) -> list[tuple[datetime, datetime | None]]:
    return [(w.start, w.end) for w in windows]


def test_no_events_no_windows():
    assert off_network_windows([], at(0), at(100)) == []


def test_only_context_events_open_nothing():
    """NCSI / firewall events alone say nothing about the corporate network: no window."""
    evs = [ev("ncsi", 5), ev("firewall_profile", 6, network="ethernet_32769")]
    assert off_network_windows(evs, at(0), at(100)) == []


def test_public_only_is_off_from_first_event():
    evs = [ev("connected", 10, "Network", "public"), ev("disconnected", 20, "Network", "public"),
           ev("connected", 30, "Hotel WiFi", "public")]
    wins = off_network_windows(evs, at(0), at(100))
    assert spans(wins) == [(at(10), None)]  # nothing invented before the first event (log start at 0)
    assert wins[0].evidence[0].role == "start" and wins[0].events_during == 2


def test_domain_on_off_on():
    evs = [ev("connected", 10, category="domain"), ev("disconnected", 20, category="domain"),
           ev("connected", 45, category="domain")]
    wins = off_network_windows(evs, at(0), at(100))
    assert spans(wins) == [(at(20), at(45))]
    roles = [e.role for e in wins[0].evidence]
    assert roles == ["start", "end"]


def test_domain_then_vpn_then_domain():
    evs = [ev("connected", 0, category="domain"), ev("disconnected", 10, category="domain"),
           ev("connected", 11, "Home", "private"), ev("vpn_connected", 15, "CorpVPN"),
           ev("vpn_disconnected", 40, "CorpVPN"), ev("connected", 60, category="domain")]
    assert spans(off_network_windows(evs, at(0), at(100))) == [(at(10), at(15)), (at(40), at(60))]


def test_overlapping_domain_and_vpn():
    """VPN up before the domain network drops: never off until the VPN drops too."""
    evs = [ev("connected", 0, category="domain"), ev("vpn_connected", 5, "CorpVPN"),
           ev("disconnected", 10, category="domain"), ev("vpn_disconnected", 30, "CorpVPN")]
    assert spans(off_network_windows(evs, at(0), at(100))) == [(at(30), None)]


def test_two_domain_networks_must_both_drop():
    evs = [ev("connected", 0, "corp-lan", "domain", guid="A"), ev("connected", 1, "corp-wifi", "domain", guid="B"),
           ev("disconnected", 10, "corp-lan", "domain", guid="A"), ev("disconnected", 20, "corp-wifi", "domain",
                                                                      guid="B")]
    assert spans(off_network_windows(evs, at(0), at(100))) == [(at(20), None)]


def test_still_off_at_end_and_in_window():
    evs = [ev("connected", 0, category="domain"), ev("disconnected", 50, category="domain")]
    wins = off_network_windows(evs, at(0), at(100))
    assert spans(wins) == [(at(50), None)]
    assert in_window(at(50), wins) and in_window(at(1000), wins)
    assert not in_window(at(49.9), wins) and not in_window(None, wins)


def test_window_end_is_exclusive():
    wins = off_network_windows([ev("disconnected", 10, category="domain"), ev("connected", 20, category="domain")],
                               at(0), at(100))
    assert spans(wins) == [(at(10), at(20))]
    assert in_window(at(10), wins) and in_window(at(19.99), wins) and not in_window(at(20), wins)


def test_reconnect_in_same_instant_is_not_a_window():
    """Domain network re-identified (disconnect + connect logged at one timestamp): no zero-length window."""
    evs = [ev("connected", 0, category="domain"), ev("disconnected", 10, category="domain", rid=2),
           ev("connected", 10, category="domain", rid=3)]
    assert off_network_windows(evs, at(0), at(100)) == []


def test_domain_network_recategorised_as_public_goes_off():
    evs = [ev("connected", 0, "corp", "domain", guid="G"), ev("connected", 30, "corp", "public", guid="G")]
    assert spans(off_network_windows(evs, at(0), at(100))) == [(at(30), None)]


def test_vpn_disconnect_without_name_ends_every_tunnel():
    evs = [ev("vpn_connected", 0, "A"), ev("vpn_connected", 1, "B"), ev("vpn_disconnected", 5, None)]
    assert spans(off_network_windows(evs, at(0), at(100))) == [(at(5), None)]


def test_unordered_input_and_other_records_are_ignored():
    evs = [ev("connected", 60, category="domain"), "not a record", ev("disconnected", 10, category="domain")]
    assert spans(off_network_windows(evs)) == [(at(10), at(60))]


def test_windows_clipped_to_log_span():
    evs = [ev("disconnected", 10, category="domain"), ev("connected", 90, category="domain"),
           ev("disconnected", 200, category="domain")]
    wins = off_network_windows(evs, at(20), at(80))
    assert spans(wins) == [(at(20), at(80))]  # the window after the logs' end is dropped


def test_context_events_become_bounded_evidence():
    evs = [ev("disconnected", 0, category="domain")] + [ev("ncsi", 1 + i / 100, rid=10 + i) for i in range(80)]
    wins = off_network_windows(evs, at(0), at(100))
    assert wins[0].events_during == 80
    assert sum(1 for e in wins[0].evidence if e.role == "during") == MAX_EVIDENCE
    d = wins[0].to_dict()
    assert d["end"] is None and d["evidence"][0]["locator"] == "record 1"


# --- museum sets, parsed for real

MUSEUM_SETS = ("museum-win10-aptsimulatorvm", "museum-win10-rathbunvm", "museum-win11-rathbunvm")


def test_log_span_from_stats():
    from triage.analyze.network import log_span
    from triage.model import EventLogStats

    src = Source(bundle_path="files/C/x.evtx")
    stats = [EventLogStats(source=src, channel="A", records=1, errors=0, first=at(5), last=at(9)),
             EventLogStats(source=src, channel="B", records=0, errors=0, first=None, last=None),
             EventLogStats(source=src, channel="C", records=2, errors=0, first=at(1), last=at(7)), "other"]
    assert log_span(stats) == (at(1), at(9))
    assert log_span([]) == (None, None)


@pytest.fixture(scope="module")
def museum(corpus, truth) -> dict[str, tuple[list[ConnectivityEvent], list[dict]]]:
    """Per set: connectivity events parsed from its logs, and truth.json's connectivity_events."""
    out = {}
    for name in MUSEUM_SETS:
        files = sorted((corpus / "evtx" / name).glob("*.evtx"))
        conn_files = [f for f in files if "connectivity_events" in truth[f"evtx/{name}/{f.name}"]]
        events = [r for f in conn_files for r in EvtxParser().parse(input_from_file(f))
                  if isinstance(r, ConnectivityEvent)]
        expected = [dict(e, file=f.name) for f in conn_files
                    for e in truth[f"evtx/{name}/{f.name}"]["connectivity_events"]]
        out[name] = (events, expected)
    return out


def _truth_time(text: str) -> datetime:
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(head).replace(microsecond=int((frac + "000000")[:6]), tzinfo=UTC)


@pytest.mark.parametrize("name", MUSEUM_SETS)
def test_museum_host_is_off_network_from_first_network_event(museum, truth, name):
    events, expected = museum[name]
    files = [k for k in truth if k.startswith(f"evtx/{name}/") and truth[k]["record_count"]]
    log_start = min(_truth_time(truth[k]["min_timestamp"]) for k in files)
    log_end = max(_truth_time(truth[k]["max_timestamp"]) for k in files)
    wins = off_network_windows(events, log_start, log_end)
    movers = sorted((e for e in expected if e["event_id"] in (10000, 10001)), key=lambda e: e["timestamp"])
    first = movers[0]
    assert spans(wins) == [(_truth_time(first["timestamp"]), None)]
    w = wins[0]
    assert w.evidence[0].role == "start"
    assert w.evidence[0].source.locator == f"record {first['record_id']}"
    assert w.evidence[0].source.bundle_path.endswith(first["file"])
    at_start = sum(1 for e in movers if _truth_time(e["timestamp"]) == w.start)
    assert w.events_during == len(expected) - at_start
    assert not in_window(log_start - timedelta(seconds=1), wins) and in_window(log_end, wins)
