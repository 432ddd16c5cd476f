"""Event-log parser against every .evtx of the shared corpus and truth.json (pyevtx-rs reference).

Each corpus log is parsed once per session (fixture ``parsed``). Compared with truth, exactly:
record count, read errors, channel, earliest/latest record time, event-id and computer histograms,
and every connectivity record.

Deliberate differences from truth:
  * timestamps: truth keeps 7 fraction digits (100 ns); triage datetimes hold microseconds, so truth
    is truncated to the microsecond before comparing (never rounded).
  * truncated files (``evtx/plaso/System2.evtx``, ``evtx/truncated/Security.evtx.truncated``): truth
    has ``record_errors`` 0 because the engine skips the incomplete last chunk silently; triage adds
    one error Issue naming the records lost, and the test checks that number against truth's chunk
    headers (records_per_chunk_headers_all_chunks - record_count).
  * records lost without an engine error inside chunks with a valid signature (HelloForBusiness 14,
    LanguagePackSetup 3, sample_with_a_bad_chunk_magic 197 in three chunks): truth counts them only
    implicitly (chunk-header sum > record_count); triage reports one warning Issue per damaged chunk,
    and the numbers add up to exactly that difference.
    Empty logs (the VPN logs): truth's chunk-header sum counts their empty chunk as one record.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from evtx import PyEvtxParser

from triage.model import ConnectivityEvent, Event, EventLogStats, Issue
from triage.parsers.base import input_from_file
from triage.parsers.evtx.events import CONNECTIVITY, NOTABLE, firewall_profiles, task_commands
from triage.parsers.evtx.parser import EvtxParser, ScriptBlocks, channel_from_name, ts_key

CORPUS = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus"
EVTX_FILES = sorted(p.relative_to(CORPUS).as_posix() for p in (CORPUS / "evtx").rglob("*.evtx*") if p.is_file())
BUNDLE_DIR = "Windows/System32/winevt/Logs"


def truth_time(text: str) -> datetime:
    """truth.json timestamp ('2022-03-10T16:33:51.7719754Z') truncated to the microsecond."""
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(head).replace(microsecond=int((frac + "000000")[:6]), tzinfo=UTC)


@pytest.fixture(scope="session")
def parsed(corpus) -> dict[str, list]:
    """Every corpus event log parsed once: {path relative to corpus: [records and issues]}.
    A parser exception is stored (and fails test_no_file_raises), not raised here."""
    parser = EvtxParser()
    out: dict[str, list] = {}
    for rel in EVTX_FILES:
        path = corpus / rel
        try:
            out[rel] = list(parser.parse(input_from_file(path, f"{BUNDLE_DIR}/{path.name}")))
        except Exception as exc:  # pragma: no cover - reported by the test below
            out[rel] = [exc]
    return out


def _stats(records: list) -> EventLogStats:
    stats = [r for r in records if isinstance(r, EventLogStats)]
    assert len(stats) == 1, "exactly one EventLogStats per log"
    return stats[0]


def _event_id(event: dict) -> int:
    eid = event["System"]["EventID"]
    return int(eid["#text"] if isinstance(eid, dict) else eid)


def test_every_corpus_log_is_covered(truth):
    expected = {k for k, v in truth.items() if v.get("format") == "evtx"}
    assert set(EVTX_FILES) == expected
    assert len(EVTX_FILES) == 56


def test_no_file_raises(parsed):
    raised = {rel: recs[0] for rel, recs in parsed.items() if recs and isinstance(recs[0], Exception)}
    assert raised == {}


@pytest.mark.parametrize("rel", EVTX_FILES)
def test_stats_match_truth(parsed, truth, rel):
    t = truth[rel]
    st = _stats(parsed[rel])
    assert st.records == t["record_count"]
    assert st.errors == t["record_errors"]
    assert st.event_ids == t["event_id_histogram"]
    assert st.computers == t["computers"]
    channels = Counter({k: v for k, v in t["channels"].items() if k != "None"})
    assert st.channel == (channels.most_common(1)[0][0] if channels else channel_from_name(rel))
    if t["record_count"]:
        assert st.first == truth_time(t["min_timestamp"])
        assert st.last == truth_time(t["max_timestamp"])
    else:
        assert st.first is None and st.last is None
    assert st.source.bundle_path == f"files/C/{BUNDLE_DIR}/{Path(rel).name}"
    assert st.source.locator is None


@pytest.mark.parametrize("rel", EVTX_FILES)
def test_issues_match_read_errors(parsed, truth, rel):
    """One error Issue per chunk/record the engine could not read, located by chunk number;
    one more for a file that ends inside a chunk, naming the records lost."""
    t = truth[rel]
    issues = [r for r in parsed[rel] if isinstance(r, Issue)]
    read_errors = [i for i in issues if re.match(r"(chunk|record) could not be read: ", i.message)]
    assert len(read_errors) == t["record_errors"]
    assert all(i.severity == "error" for i in read_errors)
    if t["first_record_error"]:
        assert t["first_record_error"].removeprefix("RuntimeError: ") in read_errors[0].message
        chunk = re.search(r"chunk number (\d+)", t["first_record_error"]).group(1)
        assert read_errors[0].source.locator == f"chunk {chunk}"
    partial = [i for i in issues if "ends inside a chunk" in i.message]
    if t["chunks"]["trailing_partial_chunk_bytes"]:
        lost = t["chunks"]["records_per_chunk_headers_all_chunks"] - t["record_count"]
        assert len(partial) == 1 and f"({lost} records)" in partial[0].message
        assert str(t["chunks"]["trailing_partial_chunk_bytes"]) in partial[0].message
    else:
        assert partial == []
    silent = [i for i in issues if "records were lost to damage the engine passes over" in i.message]
    if t["chunks"]["trailing_partial_chunk_bytes"] or t["record_count"] == 0:
        # truncated: the partial Issue accounts for the difference; empty logs: truth's header sum
        # counts an empty chunk (last record number 2**64-1) as one record, triage as none.
        assert silent == []
    else:
        lost = t["chunks"]["records_per_chunk_headers_all_chunks"] - t["record_count"]
        assert sum(int(re.search(r": (\d+) records were lost", i.message).group(1)) for i in silent) == lost
        assert all(re.fullmatch(r"chunk \d+", i.source.locator) and i.severity == "warning" for i in silent)
    short = [i for i in issues if "file header lists" in i.message]
    assert len(short) == (t["header"]["header_chunk_count"] > t["chunks"]["chunk_slots_in_file"])
    assert len(issues) == len(read_errors) + len(partial) + len(short) + len(silent), [i.message for i in issues]


@pytest.mark.parametrize("rel", EVTX_FILES)
def test_typed_records_name_their_record(parsed, truth, rel):
    t = truth[rel]
    for r in parsed[rel]:
        if isinstance(r, Event | ConnectivityEvent):
            assert re.fullmatch(r"record \d+", r.source.locator)
            assert r.source.bundle_path.endswith("/" + Path(rel).name)
            assert r.timestamp.tzinfo is UTC
            # truth's bounds are the record headers' written times; where the event's own
            # TimeCreated differs (issue_38's 4672), the header's time is kept in record_written
            written = getattr(r, "fields", {}).get("record_written") if isinstance(r, Event) else None
            when = truth_time(written) if written else r.timestamp
            assert truth_time(t["min_timestamp"]) <= when <= truth_time(t["max_timestamp"])
        if isinstance(r, Event):
            assert r.record_id == int(r.source.locator.split()[1])
            assert r.computer in t["computers"]  # the record's own Computer, whatever the host
            assert r.description and r.category


# Security / Sysmon / System event ids whose every record becomes exactly one Event.
ONE_EVENT_PER_RECORD = {
    "Security": ("4625", "4648", "4688", "4697", "4698", "4720", "4722", "4724", "4725", "4726", "4738",
                 "4728", "4732", "4756"),
    "Microsoft-Windows-Sysmon/Operational": ("1", "3", "11", "13"),
    "Windows PowerShell": ("400", "403", "800"),
    "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational": ("21", "24", "25"),
}


@pytest.mark.parametrize("rel", EVTX_FILES)
def test_notable_events_count_matches_histogram(parsed, truth, rel):
    t = truth[rel]
    ids = ONE_EVENT_PER_RECORD.get(_stats(parsed[rel]).channel)
    if not ids or set(t["channels"]) - {_stats(parsed[rel]).channel}:
        return
    got = Counter(str(r.event_id) for r in parsed[rel] if isinstance(r, Event))
    for eid in ids:
        assert got[eid] == t["event_id_histogram"].get(eid, 0), eid


def test_typed_fields_agree_with_the_record(corpus, parsed):
    """Fields of typed logons, processes and service installs equal the record's own EventData
    (decoded here independently, whole record through json.loads)."""
    checks = {
        ("museum-win11-rathbunvm/Security.evtx", 4624): {"logon_type": ("LogonType", int), "ip": ("IpAddress", None),
                                                         "target_user": ("TargetUserName", None),
                                                         "logon_id": ("TargetLogonId", None)},
        ("museum-win11-rathbunvm/Security.evtx", 4688): {"image": ("NewProcessName", None),
                                                         "parent": ("ParentProcessName", None)},
        ("museum-win10-aptsimulatorvm/Microsoft-Windows-Sysmon%4Operational.evtx", 1): {
            "image": ("Image", None), "command_line": ("CommandLine", None), "parent": ("ParentImage", None),
            "user": ("User", None)},
        ("museum-win11-rathbunvm/System.evtx", 7045): {"service_name": ("ServiceName", None),
                                                       "image_path": ("ImagePath", None)},
    }
    for (rel, eid), fields in checks.items():
        raw = {}
        for rec in PyEvtxParser(str(corpus / "evtx" / rel)).records_json():
            ev = json.loads(rec["data"])["Event"]
            if _event_id(ev) == eid:
                raw[rec["event_record_id"]] = ev["EventData"]
        typed = {r.record_id: r for r in parsed[f"evtx/{rel}"] if isinstance(r, Event) and r.event_id == eid}
        if eid == 4624:
            raw = {rid: d for rid, d in raw.items() if not _machine_logon(d)}
        assert raw and set(typed) == set(raw)
        for rid, data in raw.items():
            for name, (key, conv) in fields.items():
                value = data.get(key)
                value = None if value in ("", "-", None) else (conv(value) if conv else value.strip())
                assert typed[rid].fields[name] == value, (rel, rid, name)


def _machine_logon(data: dict) -> bool:
    sid, logon_type = data.get("TargetUserSid") or "", str(data.get("LogonType"))
    return (sid in ("S-1-5-18", "S-1-5-19", "S-1-5-20") and logon_type in ("0", "5")) or (
        sid.startswith(("S-1-5-90-", "S-1-5-96-")) and logon_type == "2")


SECURITY_FILES = sorted(rel for rel in EVTX_FILES if "Security" in rel or rel.endswith("System2.evtx")
                        or rel.endswith("issue_38.evtx"))


@pytest.mark.parametrize("rel", SECURITY_FILES)
def test_logons_typed_except_machine_logons(corpus, parsed, rel):
    """Every 4624 becomes an Event except the machine's own service/system and DWM/UMFD logons
    (counted in the statistics only); with the option evtx_all_logons every one is typed."""
    user, machine = set(), set()
    it = PyEvtxParser(str(corpus / rel)).records_json()
    while True:
        try:
            rec = next(it)
        except StopIteration:
            break
        except RuntimeError:
            continue
        ev = json.loads(rec["data"])["Event"]
        if _event_id(ev) == 4624:
            (machine if _machine_logon(ev["EventData"]) else user).add(rec["event_record_id"])
    typed = {r.record_id for r in parsed[rel] if isinstance(r, Event) and r.event_id == 4624}
    assert typed == user
    if machine:
        item = input_from_file(corpus / rel)
        item.options["evtx_all_logons"] = True
        every = {r.record_id for r in EvtxParser().parse(item) if isinstance(r, Event) and r.event_id == 4624}
        assert every == user | machine


def test_sysmon_hashes_are_split(parsed):
    procs = [r for r in parsed["evtx/museum-win10-aptsimulatorvm/Microsoft-Windows-Sysmon%4Operational.evtx"]
             if isinstance(r, Event) and r.category == "process"]
    assert procs and all(re.fullmatch(r"[0-9A-F]{64}", p.fields["hashes"]["sha256"]) for p in procs)


def test_log_cleared_and_rdp_and_powershell_host(parsed):
    cleared = [r for r in parsed["evtx/omerbenamram-evtx/system.evtx"] if isinstance(r, Event)
               and r.category == "log_cleared"]
    assert len(cleared) == 2
    assert {c.fields["log"] for c in cleared} and all(c.fields["by"] for c in cleared)
    rdp = [r for r in parsed["evtx/museum-win10-rathbunvm/Microsoft-Windows-TerminalServices-LocalSessionManager"
                             "%4Operational.evtx"] if isinstance(r, Event) and r.category == "rdp"]
    assert len(rdp) == 5 and {r.fields["action"] for r in rdp} == {"logon", "disconnect"}
    assert all(r.fields["account"] and r.fields["session_id"] is not None for r in rdp)
    hosts = [r for r in parsed["evtx/museum-win11-rathbunvm/Windows PowerShell.evtx"] if isinstance(r, Event)]
    assert hosts and all(h.fields["host_application"] for h in hosts)
    assert any("Write-Host 'Final result: 1'" in h.fields["host_application"] for h in hosts)


# --- connectivity

CONNECTIVITY_FILES = sorted(rel for rel in EVTX_FILES if rel.startswith("evtx/museum-")
                            and any(k in rel for k in ("NetworkProfile", "NCSI", "Wcmsvc", "Dhcp", "VPN", "Firewall")))


def test_connectivity_logs_are_those_truth_describes(truth):
    assert set(CONNECTIVITY_FILES) == {k for k, v in truth.items() if "connectivity_events" in v}


@pytest.mark.parametrize("rel", CONNECTIVITY_FILES)
def test_connectivity_events_match_truth(parsed, truth, rel):
    expected = truth[rel]["connectivity_events"]
    got = sorted((r for r in parsed[rel] if isinstance(r, ConnectivityEvent)),
                 key=lambda r: int(r.source.locator.split()[1]))
    assert len(got) == len(expected)
    kinds = {10000: "connected", 10001: "disconnected", 4042: "ncsi", 2010: "firewall_profile"}
    for g, e in zip(got, expected, strict=True):
        assert g.source.locator == f"record {e['record_id']}"
        assert g.event_id == e["event_id"]
        assert g.kind == kinds[e["event_id"]]
        assert g.timestamp == truth_time(e["timestamp"])
        if e["event_id"] in (10000, 10001):
            assert g.network == e["Name"]
            assert g.network_category == {0: "public", 1: "private", 2: "domain"}[e["Category"]]
            assert g.details["guid"] == e["Guid"]
            assert (g.details["state"], g.details["type"], g.details["category"]) == (e["State"], e["Type"],
                                                                                      e["Category"])
        elif e["event_id"] == 4042:
            assert (g.details["capability"], g.details["previous_capability"], g.details["change_reason"],
                    g.details["interface_guid"]) == (e["Capability"], e["PreviousCapability"],
                                                     e["CapabilityChangeReason"], e["InterfaceGuid"])
        else:
            assert (g.details["old_profile"], g.details["new_profile"], g.network) == (
                e["OldProfile"], e["NewProfile"], e["InterfaceName"])


def test_museum_networks_are_all_public(parsed):
    nets = [r for rel in CONNECTIVITY_FILES for r in parsed[rel] if isinstance(r, ConnectivityEvent)
            and r.kind in ("connected", "disconnected")]
    assert len(nets) == 79 and {n.network_category for n in nets} == {"public"}


def test_firewall_profile_masks():
    assert firewall_profiles(0x80000001) == ["none"]
    assert firewall_profiles(4) == ["public"]
    assert firewall_profiles(3) == ["domain", "private"]
    assert firewall_profiles(None) == []


def test_vpn_builders_on_documented_shapes():
    """The corpus has no VPN records: the RasClient builders are checked on the insertion strings
    Microsoft documents (%1 CoId, %2 user, %3 connection name, %4 reason/error code)."""
    data = {"Data": ["CoId={8F3A...}:", "CORP\\alice", "CorpVPN", "0"]}
    up = CONNECTIVITY[("rasclient", 20225)](data)
    down = CONNECTIVITY[("rasclient", 20226)](data)
    assert (up["kind"], up["network"], up["details"]["user"]) == ("vpn_connected", "CorpVPN", "CORP\\alice")
    assert (down["kind"], down["network"], down["details"]["code"]) == ("vpn_disconnected", "CorpVPN", "0")
    failed = NOTABLE[("rasclient", 20227)]
    fields = failed.extract({"Data": ["CoId={1}:", "SYSTEM", "CorpVPN", "868"]})
    assert (fields["connection"], fields["code"], fields["action"]) == ("CorpVPN", "868", "failed")
    assert "CorpVPN" in failed.describe(fields)


# --- PowerShell 4104

SCRIPT_FILES = sorted(rel for rel in EVTX_FILES if "PowerShell" in rel and "Operational" in rel)


@pytest.mark.parametrize("rel", SCRIPT_FILES)
def test_script_blocks_reassembled_on_corpus(corpus, parsed, rel):
    """One 'powershell_script' Event per ScriptBlockId, text = parts joined by MessageNumber."""
    parts: dict[str, dict[int, str]] = {}
    for rec in PyEvtxParser(str(corpus / rel)).records_json():
        ev = json.loads(rec["data"])["Event"]
        if _event_id(ev) == 4104:
            d = ev["EventData"]
            parts.setdefault(d["ScriptBlockId"], {})[int(d["MessageNumber"])] = d["ScriptBlockText"]
    scripts = {r.fields["script_block_id"]: r for r in parsed[rel] if isinstance(r, Event)
               and r.category == "powershell_script"}
    assert set(scripts) == set(parts)
    for sbid, p in parts.items():
        assert scripts[sbid].fields["script_block"] == "".join(p[n] for n in sorted(p))
        assert scripts[sbid].fields["complete"] is True
    if "museum-win10-rathbunvm" in rel:
        assert len(scripts) == 2


def test_script_block_reassembly_across_parts(corpus):
    """Parts out of order, a duplicate, and a block whose middle part never arrives."""
    item = input_from_file(corpus / "evtx/museum-win10-rathbunvm/Microsoft-Windows-PowerShell%4Operational.evtx")
    blocks = ScriptBlocks(item)
    t = [datetime(2024, 1, 1, 10, 0, s, tzinfo=UTC) for s in range(6)]

    def part(sbid, n, total, body):
        return {"ScriptBlockId": sbid, "MessageNumber": n, "MessageTotal": total, "ScriptBlockText": body,
                "Path": "C:\\x.ps1"}

    args = ("HOST", "Microsoft-Windows-PowerShell/Operational", "Microsoft-Windows-PowerShell")
    assert blocks.add(part("A", 2, 3, "bbb"), 11, t[1], *args) is None
    assert blocks.add(part("B", 1, 3, "x"), 12, t[2], *args) is None
    assert blocks.add(part("A", 2, 3, "bbb"), 11, t[1], *args) is None  # duplicate
    assert blocks.add(part("A", 1, 3, "aaa"), 10, t[0], *args) is None
    done = blocks.add(part("A", 3, 3, "ccc"), 13, t[3], *args)
    assert done is not None and done.fields["script_block"] == "aaabbbccc"
    assert done.fields["record_ids"] == [10, 11, 13] and done.fields["complete"] is True
    assert done.source.locator == "record 10" and done.timestamp == t[0]
    assert blocks.add(part("B", 3, 3, "z"), 14, t[4], *args) is None
    left = blocks.flush()
    assert len(left) == 1 and left[0].fields["complete"] is False
    assert left[0].fields["missing_parts"] == [2] and left[0].fields["script_block"] == "xz"
    assert blocks.flush() == []


def test_task_commands_from_task_xml():
    xml = ("<Task><Actions><Exec><Command>C:\\Users\\Public\\u.exe</Command><Arguments>-a &amp; -b</Arguments>"
           "</Exec><ComHandler><ClassId>{ABC}</ClassId></ComHandler></Actions></Task>")
    assert task_commands(xml) == ["C:\\Users\\Public\\u.exe -a & -b", "COM handler {ABC}"]
    assert task_commands(None) == []


# --- bad input


def test_not_an_event_log(corpus, tmp_path):
    hive = corpus / "registry" / "synthetic-software" / "SOFTWARE"
    out = list(EvtxParser().parse(input_from_file(hive, "x/SOFTWARE.evtx")))
    assert len(out) == 1 and isinstance(out[0], Issue) and "not an event log" in out[0].message
    empty = tmp_path / "empty.evtx"
    empty.write_bytes(b"")
    out = list(EvtxParser().parse(input_from_file(empty)))
    assert len(out) == 1 and isinstance(out[0], Issue)


def test_header_only_and_garbage_chunks(corpus, tmp_path):
    """A real header followed by nothing, by a torn chunk, or by random bytes: Issues, no exception."""
    src = (corpus / "evtx/museum-win10-rathbunvm/Security.evtx").read_bytes()
    rnd = bytes((i * 7919 + 13) % 251 for i in range(65536))
    cases = {"header_only": src[:4096], "short_header": src[:100], "torn": src[:4096 + 65536 + 30000],
             "garbage": src[:4096] + rnd, "garbage_with_magic": src[:4096] + b"ElfChnk\x00" + rnd[8:]}
    for name, blob in cases.items():
        path = tmp_path / f"{name}.evtx"
        path.write_bytes(blob)
        out = list(EvtxParser().parse(input_from_file(path)))
        stats = [r for r in out if isinstance(r, EventLogStats)]
        assert len(stats) <= 1, name
        if name in ("header_only", "torn"):
            assert any("file header lists" in i.message for i in out if isinstance(i, Issue)), name
        if name == "short_header":
            assert len(out) == 1 and isinstance(out[0], Issue)
        if name == "torn":
            assert stats[0].records > 0
            assert any("ends inside a chunk" in i.message for i in out if isinstance(i, Issue))
        if name.startswith("garbage"):
            assert any(isinstance(r, Issue) for r in out), name


def test_ts_key_orders_mixed_precision():
    keys = [ts_key(s) for s in ("2015-06-23T06:00:48Z UTC", "2015-06-23T06:00:47.75Z UTC",
                                "2015-06-23T06:00:47.5Z UTC", "2015-06-23T06:00:47.1234567Z UTC")]
    assert sorted(keys) == [keys[3], keys[2], keys[1], keys[0]]


def _record_json(provider: str | None, eid, channel: str | None, computer: str | None, data: dict) -> str:
    prov = {"#attributes": {"Name": provider, "Guid": "X"} if provider is not None else {"Guid": "X"}}
    system = {"Provider": prov, "EventID": eid, "Version": 0, "Level": 4, "TimeCreated": {"#attributes": {
        "SystemTime": "2024-01-01T00:00:00Z"}}, "EventRecordID": 1, "Correlation": None,
        "Execution": {"#attributes": {"ProcessID": 4}}, "Channel": channel, "Computer": computer, "Security": None}
    return json.dumps({"Event": {"#attributes": {"xmlns": "x"}, "System": system, "EventData": data}},
                      separators=(",", ":"), ensure_ascii=False)


def test_system_decoder_on_odd_and_hostile_records():
    """The cheap System reader agrees with a full JSON decode, including escapes, qualifiers, nulls,
    EventData keys that mimic System ones, and records that are not JSON at all."""
    from triage.parsers.evtx.system import UNPARSED, SystemDecoder

    cases = [
        ("Microsoft-Windows-Security-Auditing", 4624, "Security", "HOST-A", {"LogonType": "3"}),
        ("Microsoft-Windows-Security-Auditing", 4624, "Security", "HOST-B", {"LogonType": "3"}),
        ("Service Control Manager", {"#attributes": {"Qualifiers": 16384}, "#text": 7045}, "System", "HOST-A", {}),
        ('Evil"Provider\\x', 1, 'Chan"nel', "HÖST\\1", {}),
        (None, 0, None, "HOST-A", {}),
        ("P", 5, "Security", "HOST-A", {"Channel": "Fake", "Computer": "FAKE", "Security": None, "EventID": 9}),
        ("Microsoft-Windows-Security-Auditing", 4624, "Security", "HOST-A", {"LogonType": "3"}),
        # after a HOST-A record, EventData that repeats HOST-A's System tail must not be taken for System
        ("Microsoft-Windows-Security-Auditing", 4624, "Security", "HOST-B",
         {"Channel": "Security", "Computer": "HOST-A", "Security": None}),
    ]
    decoder = SystemDecoder()
    for provider, eid, channel, computer, data in cases * 2:
        head, tail = decoder.decode(_record_json(provider, eid, channel, computer, data))
        want_eid = eid["#text"] if isinstance(eid, dict) else eid
        assert (head.provider, head.event_id, tail.channel, tail.computer) == (provider, want_eid, channel, computer)
    head, tail = decoder.decode('{"Event": not json')
    assert head.event_id == UNPARSED and tail.channel is None


def test_streamed_from_a_deflated_zip_member(corpus, truth, tmp_path):
    """Bundles hand the parser a zip member stream, not a path: same records, nothing spilled."""
    import zipfile

    rel = "evtx/omerbenamram-evtx/sysmon.evtx"  # bad chunks and stale header, inside a deflated member
    bundle = tmp_path / "b.zip"
    with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.write(corpus / rel, "files/C/Windows/System32/winevt/Logs/sysmon.evtx")
    item = input_from_file(corpus / rel, f"{BUNDLE_DIR}/sysmon.evtx")
    with zipfile.ZipFile(bundle) as zf:
        item.open = lambda: zf.open("files/C/Windows/System32/winevt/Logs/sysmon.evtx")
        out = list(EvtxParser().parse(item))
    st = _stats(out)
    assert (st.records, st.errors) == (truth[rel]["record_count"], truth[rel]["record_errors"])
    assert st.event_ids == truth[rel]["event_id_histogram"]


def test_specs_on_documented_shapes():
    """Events the corpus lacks (Defender 1116, 4697, 4698, RDP 1149, Security 1102), typed from
    EventData/UserData shaped as Microsoft documents them (field names of the provider manifests)."""
    from triage.parsers.evtx.events import payload_data

    defender = NOTABLE[("microsoft-windows-windows defender", 1116)]
    f = defender.extract({"Threat Name": "Trojan:Win32/Mimikatz", "Severity Name": "High", "Action Name": "N/A",
                          "Path": "file:_C:\\Users\\Public\\m.exe;file:_C:\\Temp\\x.exe", "Detection User": "CORP\\bob",
                          "Process Name": "C:\\Windows\\explorer.exe"})
    assert f["threat_name"] == "Trojan:Win32/Mimikatz" and f["paths"] == ["C:\\Users\\Public\\m.exe", "C:\\Temp\\x.exe"]
    assert "Mimikatz" in defender.describe(f)
    svc = NOTABLE[("microsoft-windows-security-auditing", 4697)]
    f = svc.extract({"ServiceName": "evil", "ServiceFileName": "C:\\x.exe", "ServiceStartType": "2",
                     "ServiceAccount": "LocalSystem", "SubjectUserName": "bob", "SubjectDomainName": "CORP"})
    assert (f["service_name"], f["image_path"], f["start_type"], f["by"]) == ("evil", "C:\\x.exe", "auto start",
                                                                              "CORP\\bob")
    task = NOTABLE[("microsoft-windows-security-auditing", 4698)]
    f = task.extract({"TaskName": "\\Updater", "SubjectUserName": "bob", "SubjectDomainName": "CORP",
                      "TaskContent": "<Task><Actions><Exec><Command>powershell.exe</Command>"
                                     "<Arguments>-enc AAA</Arguments></Exec></Actions></Task>"})
    assert (f["task_name"], f["command"]) == ("\\Updater", "powershell.exe -enc AAA") and "<Exec>" in f["task_xml"]
    rdp = NOTABLE[("microsoft-windows-terminalservices-remoteconnectionmanager", 1149)]
    f = rdp.extract(payload_data(None, {"EventXML": {"#attributes": {"xmlns": "Event_NS"}, "Param1": "alice",
                                                     "Param2": "CORP", "Param3": "203.0.113.7"}}))
    assert (f["account"], f["ip"]) == ("CORP\\alice", "203.0.113.7")
    cleared = NOTABLE[("microsoft-windows-eventlog", 1102)]
    f = cleared.extract(payload_data(None, {"LogFileCleared": {"SubjectUserSid": "S-1-5-21-1", "SubjectUserName":
                                                               "bob", "SubjectDomainName": "CORP"}}))
    assert (f["by"], f["log"]) == ("CORP\\bob", "Security")


def test_engine_panic_is_an_issue(corpus, monkeypatch):
    """A Rust panic surfaces as pyo3's PanicException (a BaseException). No corpus file or fuzzed
    mutation made the engine panic, so the engine is replaced here by one that panics after two
    real records; everything else is the real parser."""
    import triage.parsers.evtx.parser as evtx_mod

    class PanicException(BaseException):
        pass

    real = evtx_mod.PyEvtxParser

    class Panicking:
        def __init__(self, fh, **kw):
            self.inner = real(fh, **kw).records_json()

        def records_json(self):
            yield next(self.inner)
            yield next(self.inner)
            raise PanicException("index out of bounds")

    monkeypatch.setattr(evtx_mod, "PyEvtxParser", Panicking)
    out = list(EvtxParser().parse(input_from_file(corpus / "evtx/artemis/Security.evtx")))
    issues = [i for i in out if isinstance(i, Issue)]
    assert any("Rust panic" in i.message for i in issues)
    assert _stats(out).records == 2 and _stats(out).errors == 1

    class Interrupted(Panicking):
        def records_json(self):
            raise KeyboardInterrupt
            yield  # pragma: no cover

    monkeypatch.setattr(evtx_mod, "PyEvtxParser", Interrupted)
    with pytest.raises(KeyboardInterrupt):
        list(EvtxParser().parse(input_from_file(corpus / "evtx/artemis/Security.evtx")))


def test_no_typed_message_has_a_hole(parsed):
    """Every typed event of every corpus log reads without '?' or '(unknown)' placeholders: a field
    Windows did not log drops its phrase (4688 without command-line auditing, a driver's 7045)."""
    hole = re.compile(r"(?:^|[\s(/:])\?(?:$|[\s)/:,])|\(unknown\)")
    holes = [(rel, r.event_id, r.description) for rel, recs in parsed.items() for r in recs
             if isinstance(r, Event) and hole.search(r.description)]
    assert not holes, holes[:5]
