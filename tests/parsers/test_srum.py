"""SRUM parser against the corpus's five real SRUDB.dat databases and truth.json (libesedb record counts
cross-checked there with dissect.esedb; SruDbIdMapTable resolution, sample rows and network totals).

Deliberate difference: rows are summed per (hour, app, user[, interface, profile]); truth.json lists raw
rows. Totals and row counts must therefore match exactly, and a one-row bucket must equal its sample row.
"""

from __future__ import annotations

import struct
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from triage.model import Issue
from triage.parsers import srum
from triage.parsers.base import input_from_file
from triage.parsers.srum import SrumAppUsage, SrumIdMapEntry, SrumNetworkUsage, SrumParser
from triage.parsers.srum_tables import (
    ID_TYPES,
    NETWORK_USAGE,
    id_blob_text,
    interface_type,
    ole_date_utc,
    sid_text,
)

REL = "Windows/System32/sru/SRUDB.dat"
SETS = ["museum-win10-rathbunvm", "museum-win10-rathbunvm-dirty", "museum-win11-rathbunvm",
        "museum-win10-aptsimulatorvm", "museum-server2022-aptsimulatorvm"]


def _parse(path: Path) -> list:
    return list(SrumParser().parse(input_from_file(path, REL)))


@pytest.fixture(scope="module")
def parsed(corpus) -> dict[str, list]:
    return {s: _parse(corpus / "srum" / s / "SRUDB.dat") for s in SETS}


@pytest.mark.parametrize("name", SETS)
def test_counts_and_totals_match_truth(parsed, truth, name):
    ref = truth[f"srum/{name}/SRUDB.dat"]
    out = parsed[name]
    idmap = [r for r in out if isinstance(r, SrumIdMapEntry)]
    net = [r for r in out if isinstance(r, SrumNetworkUsage)]
    apps = [r for r in out if isinstance(r, SrumAppUsage)]
    tables = ref["srum_tables"]
    assert len(idmap) == tables["app_id_map"]
    assert Counter(r.id_type for r in idmap) == Counter(
        {ID_TYPES.get(int(k), f"type {k}"): v for k, v in ref["app_id_map_types"].items()})
    assert sum(r.rows for r in net) == (tables["network_usage"] or 0)
    assert sum(r.rows for r in apps) == (tables["application_resource_usage"] or 0)
    totals = ref.get("network_usage_totals")
    if totals:
        assert sum(r.bytes_sent for r in net) == totals["bytes_sent"]
        assert sum(r.bytes_received for r in net) == totals["bytes_received"]
        assert min(r.recorded_first for r in net) == _dt(totals["first_timestamp"])
        assert max(r.recorded_last for r in net) == _dt(totals["last_timestamp"])
    for sample in ref.get("sample_network_usage") or []:
        (b,) = [r for r in net if r.app_id == sample["AppId"] and r.user_id == sample["UserId"]
                and r.interface_luid == sample["InterfaceLuid"] and r.hour == _dt(sample["TimeStamp"]).replace(minute=0)]
        assert (b.app, b.user_sid, b.l2_profile_id) == (sample["app"], sample["user"], sample["L2ProfileId"])
        if b.rows == 1:
            assert (b.bytes_sent, b.bytes_received) == (sample["BytesSent"], sample["BytesRecvd"])
            assert b.recorded_last == _dt(sample["TimeStamp"])
    for sample in ref.get("sample_application_resource_usage") or []:
        (b,) = [r for r in apps if r.app_id == sample["AppId"] and r.user_id == sample["UserId"]
                and r.hour == _dt(sample["TimeStamp"]).replace(minute=0)]
        assert (b.app, b.user_sid) == (sample["app"], sample["user"])
        if b.rows == 1:
            assert (b.foreground_cycle_time, b.foreground_bytes_read, b.foreground_bytes_written) == (
                sample["ForegroundCycleTime"], sample["ForegroundBytesRead"], sample["ForegroundBytesWritten"])


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_record_shape_and_timeline(parsed):
    net = [r for r in parsed["museum-win10-rathbunvm"] if isinstance(r, SrumNetworkUsage)]
    edge = [r for r in net if r.app and r.app.endswith("microsoftedgeupdate.exe")]
    assert edge and edge[0].bytes_received == 7163701 and edge[0].interface_type == "ethernet"
    assert edge[0].times() == [(datetime(2022, 2, 5, 22, 19, tzinfo=UTC),
                                "SRUM network usage recorded (end of interval)")]
    assert edge[0].source.locator.startswith("{973F5D5C-1D90-4944-BE8E-24B94231A174} record")
    assert [r.hour for r in net] == sorted((r.hour for r in net), reverse=True)  # newest first


def test_no_issue_on_clean_databases(parsed):
    assert not [r for r in parsed["museum-win10-rathbunvm"] if isinstance(r, Issue)]


def test_bucket_cap_keeps_the_newest_hours_and_counts_the_rest(corpus, parsed, monkeypatch):
    full = [r for r in parsed["museum-win11-rathbunvm"] if isinstance(r, SrumNetworkUsage)]
    per_hour = Counter(r.hour for r in full)
    newest_two = sum(per_hour[h] for h in sorted(per_hour)[-2:])
    monkeypatch.setattr(srum, "MAX_BUCKETS", newest_two + 1)
    out = _parse(corpus / "srum/museum-win11-rathbunvm/SRUDB.dat")
    kept = [r for r in out if isinstance(r, SrumNetworkUsage)]
    assert sorted(kept, key=repr) == sorted(full[:newest_two], key=repr)  # the two newest hours, whole
    assert min(r.hour for r in kept) > max(r.hour for r in full[len(kept):])
    dropped = sum(r.rows for r in full) - sum(r.rows for r in kept)
    msgs = [r.message for r in out if isinstance(r, Issue) and r.source.locator == NETWORK_USAGE]
    assert len(msgs) == 1 and msgs[0].startswith(f"{dropped} records of the oldest hours (up to "), msgs
    monkeypatch.setattr(srum, "MAX_BUCKETS", 1)  # a cap below one hour's apps: still one entry, of the newest hour
    (one,) = [r for r in _parse(corpus / "srum/museum-win11-rathbunvm/SRUDB.dat") if isinstance(r, SrumNetworkUsage)]
    assert one.hour == full[0].hour


@pytest.mark.parametrize("cut, kept", [(100, 0), (8192, 0), (65536, 0), (200_000, 0), (400_000, 288)])
def test_truncated_database_gives_issues_and_keeps_the_rest(corpus, tmp_path, cut, kept):
    """Cut in the header / catalog: the file is lost with one Issue; cut later: the tables whose pages
    are gone get an Issue each, the id map (early pages) is still read in full."""
    p = tmp_path / "SRUDB.dat"
    p.write_bytes((corpus / "srum/museum-win10-rathbunvm/SRUDB.dat").read_bytes()[:cut])
    out = _parse(p)
    issues = [r for r in out if isinstance(r, Issue)]
    assert issues and all("unreadable" in i.message for i in issues)
    assert len([r for r in out if isinstance(r, SrumIdMapEntry)]) == kept


def test_size_cap_is_checked_before_the_copy(corpus):
    item = input_from_file(corpus / "srum/museum-win10-rathbunvm/SRUDB.dat", REL)
    item.options = {"max_srum_bytes": 1000}
    (issue,) = list(SrumParser().parse(item))
    assert isinstance(issue, Issue) and "above the 1000-byte cap" in issue.message


def test_dirty_database_state_is_a_warning(corpus, tmp_path):
    data = bytearray((corpus / "srum/museum-win10-rathbunvm/SRUDB.dat").read_bytes())
    struct.pack_into("<I", data, 52, 2)  # DirtyShutdown (libesedb does not check the header checksum)
    p = tmp_path / "SRUDB.dat"
    p.write_bytes(bytes(data))
    issues = [r for r in _parse(p) if isinstance(r, Issue)]
    assert any("DirtyShutdown" in i.message and i.severity == "warning" for i in issues)


def test_decoders_on_hostile_values():
    assert sid_text(bytes.fromhex("010100000000000513000000")) == "S-1-5-19"
    assert sid_text(b"\x01\xff" + bytes(10)) is None and sid_text(b"") is None
    assert id_blob_text(1, "wuauserv\x00".encode("utf-16-le")) == "wuauserv"
    assert id_blob_text(0, b"a\x00b") == "a"  # odd length: last byte dropped
    assert ole_date_utc(struct.pack("<d", float("nan"))) is None
    assert ole_date_utc(struct.pack("<d", 1e300)) is None and ole_date_utc(b"\x00" * 4) is None
    assert ole_date_utc(struct.pack("<d", 44597.92986111111)) == datetime(2022, 2, 5, 22, 19, tzinfo=UTC)
    assert interface_type(1689399632855040) == "ethernet" and interface_type(71 << 48) == "wifi"
