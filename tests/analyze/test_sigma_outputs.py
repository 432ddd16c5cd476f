"""The Sigma part of the outputs made once per record: summary.json's ``sigma`` section converts
each matched record to JSON once (no second walk), and the summary's JSON conversion takes scalar
items without a call each. Both must give exactly what the plain recursive conversion gives."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from triage.analyze import sigma_findings
from triage.analyze.summary import jsonable
from triage.analyze.timeline import rows
from triage.model import SigmaMatch, Source, UserAccount

T0 = datetime(2022, 3, 10, 20, 51, 50, 237512, tzinfo=UTC)


def _reference(value: Any) -> Any:
    """The conversion spelled out one value at a time (what jsonable did before its fast paths)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        v = value if value.tzinfo else value.replace(tzinfo=UTC)
        return v.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, Source):
        return value.to_dict()
    if isinstance(value, dict):
        return {str(k): _reference(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_reference(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(value)
    return str(value)


class _Key(str):
    """A str subclass as a key: converted to a plain str."""


def test_jsonable_fast_paths_equal_the_plain_conversion():
    local = timezone(timedelta(hours=2))
    value = {"s": "x", 1: 2, None: True, 2.5: [1, "a", None, (T0, b"\x00\xff")], _Key("k"): {"n": None},
             "nested": [{"t": T0.replace(tzinfo=None)}, [[T0.astimezone(local)]], ("a", 3.5)],
             "set": frozenset({"only"}), "src": Source(bundle_path="files/x", locator="record 1"),
             "user": UserAccount(source=Source(bundle_path="files/SAM"), name="bob", sid=None,
                                 profile_path=None, last_write=T0)}
    out = jsonable(value)
    assert out == _reference(value)
    assert all(type(k) is str for k in out)
    assert out["2.5"][3] == ["2022-03-10T20:51:50.237512Z", "00ff"]
    assert jsonable(("a", T0)) == ["a", "2022-03-10T20:51:50.237512Z"]


def _match(rule_id: str, samples: tuple[dict[str, Any], ...], log: str = "files/Sysmon.evtx") -> SigmaMatch:
    return SigmaMatch(source=Source(bundle_path=log), rule_id=rule_id, title=f"rule {rule_id}", level="high",
                      author="someone", tags=("attack.t1059.001", "attack.execution"), origin="user",
                      rule_path=f"windows/{rule_id}.yml", channel="Microsoft-Windows-Sysmon/Operational",
                      count=len(samples), first=T0, last=T0 + timedelta(minutes=5), samples=samples)


def _sample(rid: int, minutes: int, **fields: Any) -> dict[str, Any]:
    t = (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")
    return {"record_id": rid, "time": t, "event_id": "1", "provider": "Microsoft-Windows-Sysmon",
            "computer": "WS1", "fields": fields}


def test_the_sigma_section_is_json_once_and_equals_the_full_conversion():
    # a field the engine could hand over as a non-JSON value (a tuple, bytes, a datetime)
    recs = [_match("r1", (_sample(5, 0, CommandLine='mim.exe "x"'), _sample(9, 2, Hashes=("a", "b")))),
            _match("r2", (_sample(7, 1, Raw=b"\x01", When=T0),)), _match("r1", (_sample(3, 9),), "files/Sec.evtx")]
    windows = [{"start": T0 + timedelta(seconds=30), "end": T0 + timedelta(minutes=3)}]
    ruleset = type("RS", (), {"key": "k" * 40, "files": ("a.yml",), "loaded": 2, "rules": [1, 2, 3],
                              "skipped": [], "reasons": lambda self: {"why": 0}})()
    out = sigma_findings.json_section(recs, ruleset, windows)
    assert out == jsonable(sigma_findings.section(recs, ruleset, windows))
    assert jsonable(out) == out and list(out) == ["enabled", "matches", "rule_set", "files", "rules_loaded",
                                                  "variants", "rules_skipped", "skipped_reasons"]
    r1 = next(m for m in out["matches"] if m["rule_id"] == "r1")
    assert r1["count"] == 3 and [x["record_id"] for x in r1["records"]] == [5, 9, 3]
    assert [x["off_network"] for x in r1["records"]] == [False, True, False]
    assert list(r1["records"][0]) == ["bundle_path", "locator", "channel", "record_id", "time", "event_id",
                                      "provider", "computer", "fields", "off_network"]
    assert r1["records"][1]["fields"] == {"Hashes": ["a", "b"]}
    r2 = next(m for m in out["matches"] if m["rule_id"] == "r2")
    assert r2["records"][0]["fields"] == {"Raw": "01", "When": "2022-03-10T20:51:50.237512Z"}
    assert list(r2)[-1] == "records" and r2["attack"] == ["T1059.001"]


def test_sigma_timeline_rows_name_the_rule_and_the_log_for_each_record():
    m = _match("r1", (_sample(5, 0, CommandLine="a  b"), _sample(9, 2), {"record_id": 1, "time": "bad"}))
    got = list(rows([m], "HOST"))
    assert [r["locator"] for r in got] == ["record 5", "record 9"]  # an unreadable time gives no row
    assert got[0]["message"] == "[sigma high] rule r1 - Microsoft-Windows-Sysmon/Operational 1: CommandLine=a b"
    assert got[1]["message"] == "[sigma high] rule r1 - Microsoft-Windows-Sysmon/Operational 1"
    assert {(r["source"], r["bundle_path"], r["host"]) for r in got} == {("sigma:r1", "files/Sysmon.evtx", "HOST")}
    assert got[1]["datetime"] == "2022-03-10T20:53:50.237512Z"


def test_row_times_are_formatted_as_strftime_formats_them():
    """iso_us's %-formatting against strftime: any year, microsecond, UTC or another offset."""
    import random

    from triage.analyze.timeline import iso_us

    rng = random.Random(7)
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
    times = [datetime(1, 1, 1, tzinfo=UTC), datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC),
             datetime(1000, 1, 1, 0, 0, 1, 5, tzinfo=zones[2]), datetime(9999, 12, 31, 12, tzinfo=UTC), T0]
    times += [datetime(1, 1, 2, tzinfo=UTC) + timedelta(microseconds=rng.randrange(315_500_000_000_000_000))
              for _ in range(3000)]
    times = [t.astimezone(rng.choice(zones)) if t.year > 1 else t for t in times]
    assert [iso_us(t) for t in times] == [t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") for t in times]
    assert iso_us(T0) == "2022-03-10T20:51:50.237512Z"
