"""A new process finds its compiled rule set fast (triage.sigma.fastcache) and never a wrong one: the
marshal companion gives the same set as the JSON and is read only from a private directory; the
files-to-set memo is skipped as soon as any file was rewritten, even with its old modification time."""

from __future__ import annotations

import os
import uuid

import pytest

from triage.sigma import fastcache, load
from triage.sigma.load import cache_dir, load_rules

pytestmark = pytest.mark.skipif(os.name != "posix", reason="ownership and modes are POSIX")


def _rule(path, suffix="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"title: cached rule\nid: {uuid.UUID(int=9)}\nstatus: test\nlogsource:\n    product: windows\n"
                    "    category: process_creation\ndetection:\n    sel:\n        Image|endswith: "
                    f"'\\\\{suffix}.exe'\n    condition: sel\nlevel: high\n", encoding="utf-8")


def _new_process():
    """Forget what this process knows, as a new run would."""
    for w, _ in load._WATCHED.values():
        w.close()
    for memo in (load._LOADED, load._BY_SIGNATURE, load._DISCOVERED, load._WATCHED):
        memo.clear()


@pytest.fixture
def rules(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "rules"
    _rule(root / "one.yml", "a")
    _rule(root / "sub" / "two.yml", "b")
    yield root
    _new_process()


def test_marshal_companion_is_the_same_set(rules):
    first = load_rules([str(rules)], builtin=False)
    companion = fastcache.marshal_path(cache_dir() / f"{first.key}.json")
    assert companion.is_file()
    _new_process()
    from_marshal = load.ruleset_by_key(first.key)
    _new_process()
    companion.unlink()
    from_json = load.ruleset_by_key(first.key)
    assert from_marshal is not None and from_json is not None
    assert from_marshal.rules == from_json.rules == first.rules
    assert from_marshal.skipped == from_json.skipped and from_marshal.loaded == from_json.loaded
    assert isinstance(from_marshal.rules[0].tree, tuple)
    assert companion.is_file()  # the JSON read wrote it again


def test_marshal_not_read_from_a_directory_others_can_write(rules, monkeypatch):
    first = load_rules([str(rules)], builtin=False)
    d = cache_dir()
    calls = []
    real = fastcache.marshal.loads
    monkeypatch.setattr(fastcache.marshal, "loads", lambda data: calls.append(1) or real(data))
    os.chmod(d, 0o777)
    try:
        _new_process()
        assert load.ruleset_by_key(first.key).rules == first.rules  # from the JSON
        assert calls == []
    finally:
        os.chmod(d, 0o700)
    _new_process()
    assert load.ruleset_by_key(first.key).rules == first.rules
    assert calls == [1]


def test_corrupt_companion_is_a_miss(rules):
    first = load_rules([str(rules)], builtin=False)
    companion = fastcache.marshal_path(cache_dir() / f"{first.key}.json")
    companion.write_bytes(b"\x00garbage")
    _new_process()
    assert load.ruleset_by_key(first.key).rules == first.rules


def test_unchanged_files_are_not_read_again(rules, monkeypatch):
    first = load_rules([str(rules)], builtin=False)
    _new_process()

    def no_hashing(*_a, **_k):
        raise AssertionError("the files were read and hashed again")
    monkeypatch.setattr(load, "cache_key", no_hashing)
    again = load_rules([str(rules)], builtin=False)
    assert again.key == first.key and again.rules == first.rules


def test_rewritten_file_with_its_old_time_is_compiled_again(rules):
    first = load_rules([str(rules)], builtin=False)
    f = rules / "one.yml"
    st = f.stat()
    _rule(f, "c")  # same size, other content
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # the modification time put back (touch -r)
    assert f.stat().st_size == st.st_size and f.stat().st_mtime_ns == st.st_mtime_ns
    _new_process()
    second = load_rules([str(rules)], builtin=False)
    assert second.key != first.key
    assert any("\\c.exe" in str(r.tree) for r in second.rules)


def test_a_new_compiler_does_not_find_the_old_set(rules, monkeypatch):
    """After an upgrade (another compiler version) the same files compile again: the files-to-set
    memo must not hand back the set the old compiler made (its pre-filter groups, say)."""
    first = load_rules([str(rules)], builtin=False)
    _new_process()
    monkeypatch.setattr(load, "COMPILER_VERSION", load.COMPILER_VERSION + "-next")
    load._compiler_tag.cache_clear()
    try:
        second = load_rules([str(rules)], builtin=False)
    finally:
        monkeypatch.undo()
        load._compiler_tag.cache_clear()
    assert second.key != first.key
