"""Rule files are found again without a walk only while no folder changed: a rule added (in a new
sub-folder too) or removed between two bundles of a batch is seen by the next load."""

from __future__ import annotations

import os
import uuid

from triage.sigma.load import load_rules


def _rule(path, title="test rule"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"title: {title}\nid: {uuid.uuid4()}\nstatus: test\nlogsource:\n    product: windows\n"
                    "    category: process_creation\ndetection:\n    sel:\n        Image|endswith: '\\\\x.exe'\n"
                    "    condition: sel\nlevel: high\n", encoding="utf-8")


def _older(*paths):
    """Folder times in the past, as for rules checked out before the analysis began."""
    for p in paths:
        os.utime(p, ns=(1_000_000_000, 1_000_000_000))


def test_added_and_removed_rules_are_seen(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "rules"
    _rule(root / "a" / "one.yml")
    _older(root, root / "a")
    first = load_rules([str(root)], builtin=False)
    assert first.files == 1 and len(first.rules) >= 1
    assert load_rules([str(root)], builtin=False).key == first.key  # unchanged: the same set

    _rule(root / "a" / "b" / "two.yml", "second rule")  # a new sub-folder: its parent's time changes
    second = load_rules([str(root)], builtin=False)
    assert second.files == 2 and second.key != first.key

    (root / "a" / "b" / "two.yml").unlink()
    third = load_rules([str(root)], builtin=False)
    assert third.files == 1 and third.key == first.key
