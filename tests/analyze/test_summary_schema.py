"""summary.json follows triage/data/summary.schema.json (JSON Schema 2020-12), and the schema bites."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jsonschema
import pytest
from _analyze_host import PLANT, analyzed_once, collected_bundle

from triage.analyze.state import AnalysisData
from triage.analyze.summary import EVENTS_PER_CATEGORY, build_summary, load_schema, validate
from triage.model import Event, Source


@pytest.fixture(scope="module")
def summary(make_hosts, tmp_path_factory) -> dict:
    bundle = collected_bundle(make_hosts, tmp_path_factory.mktemp("bundles"), plant=(PLANT,))
    res = analyzed_once(bundle, tmp_path_factory.mktemp("analysis"), strict=True)
    return json.loads(res.summary_path.read_text("utf-8"))


def test_schema_is_valid_2020_12():
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    # every top-level field is documented for the fleet store and other readers
    for name, prop in schema["properties"].items():
        assert prop.get("description") or prop.get("$ref"), name


def test_real_summary_validates(summary):
    validate(summary)
    assert summary["generated"].endswith("Z")
    assert summary["schema_version"] and summary["analyzer_version"]
    for f in summary["findings"]:
        assert f["evidence"] and all(e["bundle_path"] for e in f["evidence"])


@pytest.mark.parametrize("breakage", [
    lambda s: s.pop("findings"),
    lambda s: s["host"].pop("hostname"),
    lambda s: s.update(generated="2024-05-01 12:00:00"),                     # not ISO 'Z'
    lambda s: s["bundle"].update(verified="yes"),
    lambda s: s["findings"].append({**s["findings"][0], "severity": "urgent"}),
    lambda s: s["findings"].append({**s["findings"][0], "when": "2024-05-01T12:00:00+02:00"}),
    lambda s: s["autoruns"][0].pop("bundle_path"),
    lambda s: s["issues"].append({"severity": "fatal", "bundle_path": None, "locator": None, "message": "x"}),
])
def test_schema_rejects_broken_summaries(summary, breakage):
    broken = copy.deepcopy(summary)
    breakage(broken)
    with pytest.raises(jsonschema.ValidationError):
        validate(broken)


def test_events_are_capped_per_category_with_counts():
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    n = EVENTS_PER_CATEGORY + 37
    events = [Event(source=Source(bundle_path="files/C/Security.evtx", locator=f"record {i}"),
                     timestamp=t0 + timedelta(seconds=n - i), channel="Security", provider="p", event_id=4624,
                     record_id=i, computer="H", category="logon", description="logon") for i in range(n)]
    events.append(Event(source=Source(bundle_path="files/C/System.evtx"), timestamp=t0, channel="System",
                        provider="p", event_id=7045, record_id=1, computer="H", category="service_install",
                        description="svc"))
    data = AnalysisData(bundle_path=Path("x.zip"), records=events, hostname="H", verified=True)
    s = build_summary(data)
    validate(s)
    assert s["event_counts"]["logon"] == {"total": n, "kept": EVENTS_PER_CATEGORY, "dropped": 37}
    assert s["event_counts"]["service_install"] == {"total": 1, "kept": 1, "dropped": 0}
    kept = [e for e in s["events"] if e["category"] == "logon"]
    assert len(kept) == EVENTS_PER_CATEGORY
    # the first by time are kept, and the list is in time order
    assert kept[0]["timestamp"] == "2024-01-01T00:00:01Z"
    assert [e["timestamp"] for e in s["events"]] == sorted(e["timestamp"] for e in s["events"])
