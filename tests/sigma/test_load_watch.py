"""Rules asked for again in one process are trusted unchanged only while their folders' inotify watch
is quiet (triage.sigma.watch): an edit that keeps a file's size and modification time — which the
stat signature alone cannot see — is still seen, a forked child never reads its parent's watch, and
without inotify the stat check decides as before."""

from __future__ import annotations

import os
import sys
import uuid

import pytest

from triage.sigma import load, watch
from triage.sigma.load import load_rules

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux") or watch.INotify is None,
                                reason="inotify is Linux-only")


def _rule(path, suffix="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"title: watched rule\nid: {uuid.UUID(int=7)}\nstatus: test\nlogsource:\n    product: windows\n"
                    "    category: process_creation\ndetection:\n    sel:\n        Image|endswith: "
                    f"'\\\\{suffix}.exe'\n    condition: sel\nlevel: high\n", encoding="utf-8")


def _rules(tmp_path, monkeypatch, link_to=None):
    """A rule folder whose folders were last changed in the past, as for rules checked out before the
    analysis began (a folder changed while it is walked is walked again next time, watch or not)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "rules"
    _rule(root / "sub" / "one.yml", "a")
    if link_to is not None:
        (root / "sub" / "link.yml").symlink_to(link_to)
    for p in (root, root / "sub"):
        os.utime(p, ns=(1_000_000_000, 1_000_000_000))
    return root


def _armed(root) -> bool:
    return (False, (str(root),)) in load._WATCHED


def test_same_size_same_mtime_edit_is_seen(tmp_path, monkeypatch):
    root = _rules(tmp_path, monkeypatch)
    first = load_rules([str(root)], builtin=False)
    assert not _armed(root)  # one load: nothing armed (a one-bundle run pays nothing extra)
    assert load_rules([str(root)], builtin=False).key == first.key
    assert _armed(root)  # the second load armed the watch after checking every file
    assert load_rules([str(root)], builtin=False).key == first.key

    f = root / "sub" / "one.yml"
    st = f.stat()
    _rule(f, "b")  # same length, other content
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old modification time
    assert f.stat().st_size == st.st_size and f.stat().st_mtime_ns == st.st_mtime_ns
    edited = load_rules([str(root)], builtin=False)
    assert edited.key != first.key
    assert edited.rules[0].tree != first.rules[0].tree


def test_without_the_watch_the_stat_signature_is_all(tmp_path, monkeypatch):
    """The same edit with inotify unavailable: the signature (size, time) cannot see it — this is
    what the watch adds; an edit that changes the time is seen either way."""
    monkeypatch.setattr(watch, "INotify", None)
    root = _rules(tmp_path, monkeypatch)
    first = load_rules([str(root)], builtin=False)
    load_rules([str(root)], builtin=False)
    assert not _armed(root)
    f = root / "sub" / "one.yml"
    st = f.stat()
    _rule(f, "b")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert load_rules([str(root)], builtin=False).key == first.key
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert load_rules([str(root)], builtin=False).key != first.key


def test_added_file_and_removed_folder_end_the_watch(tmp_path, monkeypatch):
    root = _rules(tmp_path, monkeypatch)
    first = load_rules([str(root)], builtin=False)
    load_rules([str(root)], builtin=False)
    assert _armed(root)
    _rule(root / "sub" / "deeper" / "two.yml", "c")
    second = load_rules([str(root)], builtin=False)
    assert second.files == 2 and second.key != first.key
    for p in (root / "sub", root / "sub" / "deeper"):
        os.utime(p, ns=(1_000_000_000, 1_000_000_000))
    load_rules([str(root)], builtin=False)
    load_rules([str(root)], builtin=False)
    assert _armed(root)
    (root / "sub" / "deeper" / "two.yml").unlink()
    (root / "sub" / "deeper").rmdir()
    assert load_rules([str(root)], builtin=False).files == 1


def test_symlinked_rule_edited_at_its_target(tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere" / "real.yml"
    _rule(elsewhere, "d")
    root = _rules(tmp_path, monkeypatch, link_to=elsewhere)
    first = load_rules([str(root)], builtin=False)
    load_rules([str(root)], builtin=False)
    assert _armed(root)
    st = elsewhere.stat()
    _rule(elsewhere, "e")
    os.utime(elsewhere, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert load_rules([str(root)], builtin=False).key != first.key


def test_a_forked_child_does_not_read_its_parents_watch(tmp_path):
    (tmp_path / "d").mkdir()
    w = watch.arm([str(tmp_path / "d")])
    assert w is not None and w.quiet()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: the inherited watch must not answer (nor drain the parent's events)
        (tmp_path / "d" / "new.yml").write_text("x", encoding="utf-8")
        os.write(write, b"1" if not w.quiet() else b"0")
        os._exit(0)
    os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1"
    assert not w.quiet()  # the child's write is the parent's event, still there to read
    assert not w.quiet()  # and a watch that saw a change stays closed
