"""triage's own Sigma pack (sigma_rules/): every rule well-formed, loaded, mapped to logs the parser
reads, fired by its positive cases (tests/data/sigma_pack/<theme>.yml), silent on its benign cases, and
no finding of medium or above on the benign whole-machine logs of the shared corpus."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
import yaml
from _sigma import log_records

from triage.sigma.flatten import flatten

REPO = Path(__file__).resolve().parents[2]
PACK = REPO / "sigma_rules"
CASES = REPO / "tests" / "data" / "sigma_pack"
THEMES = {"execution", "persistence", "privilege_escalation", "defense_evasion", "credential_access",
          "discovery", "lateral_movement", "command_and_control", "impact"}
LEVELS = {"informational", "low", "medium", "high", "critical"}
REQUIRED = ("title", "id", "status", "description", "author", "date", "references", "tags", "logsource",
            "detection", "falsepositives", "level")


def _rule_files() -> list[Path]:
    return sorted(p for p in PACK.rglob("*") if p.suffix in (".yml", ".yaml"))


def _docs() -> dict[Path, dict]:
    return {p: yaml.safe_load(p.read_text(encoding="utf-8")) for p in _rule_files()}


def _cases() -> list[tuple[str, int, dict]]:
    out = []
    for f in sorted(CASES.glob("*.yml")):
        for n, case in enumerate(yaml.safe_load(f.read_text(encoding="utf-8")) or []):
            out.append((f"{f.stem}[{n}]", n, case))
    return out


def test_pack_size_and_themes():
    files = _rule_files()
    assert len(files) >= 150, f"the pack has {len(files)} rules"
    themes = {p.relative_to(PACK).parts[0] for p in files}
    assert themes <= THEMES, themes - THEMES
    assert themes == THEMES, f"themes without rules: {THEMES - themes}"


def test_pack_metadata():
    seen: dict[str, Path] = {}
    for p, doc in _docs().items():
        missing = [k for k in REQUIRED if not doc.get(k)]
        assert not missing, f"{p.relative_to(REPO)}: missing {missing}"
        assert doc["author"] == "triage", p
        assert doc["level"] in LEVELS, p
        uuid.UUID(str(doc["id"]))
        assert str(doc["id"]) not in seen, f"{p} and {seen.get(str(doc['id']))} share an id"
        seen[str(doc["id"])] = p
        assert any(re.fullmatch(r"attack\.t\d{4}(\.\d{3})?", t) for t in doc["tags"]), f"{p}: no technique tag"
        assert p.parent.name in THEMES and p.relative_to(PACK).parts[0] == p.parent.name, p


def test_pack_loads_without_skips(pack):
    rs, _ = pack
    assert rs.skipped == [], [(s.path, s.reason) for s in rs.skipped]
    assert rs.loaded == len(_rule_files())


def test_every_rule_has_a_positive_case():
    ids = {str(d["id"]) for d in _docs().values()}
    covered = {str(c["rule"]) for _, _, c in _cases()}
    assert not ids - covered, f"rules without a case: {sorted(ids - covered)}"
    assert not covered - ids, f"cases for unknown rules: {sorted(covered - ids)}"


def test_logsources_map_to_channels_the_parser_reads(pack):
    """Each rule variant is tied to channels (never 'any log'), and each channel is one whose log the
    collection profile takes (winevt/Logs/*.evtx: every channel has a file named after it)."""
    rs, _ = pack
    profile = (REPO / "profiles" / "windows-triage.yaml").read_text(encoding="utf-8").lower()
    assert "winevt" in profile
    for r in rs.rules:
        assert r.channels, f"{r.path}: no channel condition after mapping ({r.logsource})"
        assert r.variant != "any", r.path
        for ch in r.channels:
            assert re.fullmatch(r"[A-Za-z0-9 ._/-]+", ch), (r.path, ch)


@pytest.mark.parametrize("name,n,case", _cases(), ids=[c[0] for c in _cases()])
def test_case(pack, name, n, case):
    _, eng = pack
    rid = str(case["rule"])
    event = {k: (str(v) if v is not None else None) for k, v in case["event"].items()}
    fired = {r.id for r in eng.match_fields(event)}
    assert rid in fired, f"{name}: rule {rid} did not fire on its positive case (fired: {sorted(fired)})"
    for b in case.get("benign") or []:
        benign = {k: (str(v) if v is not None else None) for k, v in b.items()}
        fired = {r.id for r in eng.match_fields(benign)}
        assert rid not in fired, f"{name}: rule {rid} fired on a benign case {b}"


def _benign_logs(corpus: Path) -> list[Path]:
    return sorted(p for p in (corpus / "evtx").rglob("*.evtx") if "aptsimulatorvm" not in str(p))


def test_no_medium_or_above_on_benign_corpus_logs(pack, corpus):
    """Severity must mean something: the pack stays quiet (below medium) on ordinary machines."""
    _, eng = pack
    loud: dict[str, list[str]] = {}
    logs = _benign_logs(corpus)
    assert len(logs) >= 20
    for log in logs:
        for rec in log_records(log):
            try:
                fields = flatten(json.loads(rec["data"]))
            except ValueError:
                continue
            for r in eng.match_fields(fields):
                if r.level in ("medium", "high", "critical"):
                    loud.setdefault(f"{r.level} {r.title} ({r.path})", []).append(
                        f"{log.relative_to(corpus)} record {rec['event_record_id']}")
    assert not loud, "\n".join(f"{k}: {len(v)} e.g. {v[:3]}" for k, v in loud.items())


def test_coverage_doc_is_current(pack):
    """docs/sigma-coverage.md is generated from the pack: regenerate it when rules change
    (python3 -m triage.sigma.coverage > docs/sigma-coverage.md)."""
    from triage.sigma.coverage import render

    rs, _ = pack
    assert (REPO / "docs" / "sigma-coverage.md").read_text(encoding="utf-8") == render(rs)
