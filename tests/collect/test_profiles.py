"""Profiles: every shipped profile loads; validation errors name the file and the key."""

from __future__ import annotations

import pytest

from triage.profile import ProfileError, available_profiles, load_profile

REQUIRED_WINDOWS_TRIAGE = {
    "WindowsEventLogs", "WindowsSystemRegistryHives", "WindowsUserRegistryHives", "WindowsAmcache",
    "WindowsPrefetchFiles", "WindowsScheduledTasks", "ChromiumBrowserHistory", "FirefoxHistory",
    "PowerShellHistory", "WindowsStartupFolders", "WindowsRecycleBinMetadata",
}


@pytest.mark.parametrize("name", sorted(available_profiles()))
def test_every_shipped_profile_loads(name):
    prof = load_profile(name)
    assert prof.artifacts
    prios = [a.priority for a in prof.ordered()]
    assert prios == sorted(prios)


def test_windows_triage_covers_the_issue():
    prof = load_profile("windows-triage")
    assert {a.name for a in prof.artifacts} >= REQUIRED_WINDOWS_TRIAGE
    hives = next(a for a in prof.artifacts if a.name == "WindowsSystemRegistryHives")
    assert {".LOG1", ".LOG2"} <= set(hives.companions)
    chrome = next(a for a in prof.artifacts if a.name == "ChromiumBrowserHistory")
    assert "-wal" in chrome.companions and "-journal" in chrome.companions
    raws = " ".join(p.raw for p in chrome.patterns)
    assert "Edge" in raws and "Brave" in raws and "Chrome" in raws
    assert prof.ordered()[0].name == "WindowsEventLogs"


def _write(tmp_path, text):
    p = tmp_path / "p.yaml"
    p.write_text(text)
    return str(p)


BASE = """name: t
description: d
artifacts:
  - name: A
    priority: 1
    paths: ['%%environ_systemroot%%\\x']
"""


@pytest.mark.parametrize("mutation, expect", [
    (BASE + "bogus: 1\n", "unknown key(s): bogus"),
    (BASE.replace("priority: 1", "priority: 1\n    sizecap: 5"), "artifacts[0] (A): unknown key(s): sizecap"),
    (BASE.replace("priority: 1", "priority: 1\n    max_file_size: 12 parsecs"), "artifacts[0] (A).max_file_size"),
    (BASE.replace("\\x", "\\[x"), "unbalanced '['"),
    (BASE.replace("\\x", "\\..\\x"), "'.' and '..' are not allowed"),
    (BASE.replace("%%environ_systemroot%%", "%%environ_nosuch%%"), "unknown variable %%environ_nosuch%%"),
    (BASE.replace("\\x", "\\a**b"), "'**' must be a whole segment"),
    (BASE.replace("priority: 1", "priority: high"), "priority"),
    (BASE.replace("name: A", "name: 'bad name'"), ".name"),
    (BASE.replace("artifacts:", "defaults: {max_file_size: 1GiB, wat: 2}\nartifacts:"), "defaults"),
])
def test_validation_names_file_and_key(tmp_path, mutation, expect):
    path = _write(tmp_path, mutation)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert path in str(err.value)
    assert expect in str(err.value)


def test_unknown_profile_name_lists_known():
    with pytest.raises(ProfileError, match="windows-triage"):
        load_profile("no-such-profile")


def test_sizes_and_depth_parse(tmp_path):
    prof = load_profile(_write(tmp_path, BASE.replace("priority: 1", "priority: 1\n    max_file_size: 2GiB\n    max_depth: 5")))
    a = prof.artifacts[0]
    assert a.max_file_size == 2 * 1024**3 and a.max_depth == 5
