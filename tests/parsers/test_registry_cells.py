"""The fast value reader and the composed key paths of registry_hive give exactly what python-registry
gives, on real hives of the corpus, damaged ones included, and on a hive whose subkey list points
back at its root."""

from __future__ import annotations

import struct
from collections import deque
from pathlib import Path

import pytest
from Registry.RegistryParse import HBINCell, VKRecord

from triage.parsers.registry.cells import hbin_base, read_value
from triage.parsers.registry.hive import Hive, decode_value, open_hive

HIVES = ("registry/win7-wks-win732bita/SYSTEM", "registry/win10-dirty-system/SYSTEM",
         "registry/corrupted/corrupted_system_hive", "registry/corrupted/SAMBadHBinHeader",
         "registry/synthetic-software/SOFTWARE")
MAX_KEYS = 3000  # per hive: enough to meet every value shape, fast enough for every run


def _keys(hive: Hive, limit: int = MAX_KEYS):
    root = hive.root()
    queue = deque([root] if root is not None else [])
    seen = 0
    while queue and seen < limit:
        key = queue.popleft()
        seen += 1
        yield key
        queue.extend(hive.subkeys(key))


def _library_value(buf: bytes, nk, base: int, rel: int):
    """python-registry's own reading of one value: (name, type, raw) or the exception it raises."""
    try:
        cell = HBINCell(buf, base + rel, nk)
        vk = VKRecord(buf, cell.data_offset(), nk)
        return vk.name() if vk.has_name() else "", vk.data_type(), vk.raw_data()
    except Exception as exc:
        return type(exc)


@pytest.mark.parametrize("rel", HIVES)
def test_fast_values_and_paths_match_python_registry(corpus: Path, rel: str) -> None:
    path = corpus / rel
    if not path.is_file():
        pytest.skip(f"{rel} not in the corpus")
    opened = open_hive(path, [], replay=False)
    if opened.hive is None:
        pytest.skip(f"{rel} does not open as a hive")
    hive = opened.hive
    buf = hive.reg._buf
    fast = slow = 0
    for key in _keys(hive):
        assert hive.path(key) == hive._library_path(key)
        nk = key._nkrecord
        try:
            count = nk.values_number()
            base = hbin_base(nk)
            list_at = base + nk.unpack_dword(0x28) + 4
        except Exception:
            continue
        for i in range(min(count, 200)):
            try:
                rel_off = struct.unpack_from("<I", buf, list_at + 4 * i)[0]
            except struct.error:
                break
            got = read_value(buf, base, base + rel_off + 4)
            want = _library_value(buf, nk, base, rel_off)
            if got is None:
                slow += 1
                continue
            fast += 1
            assert got == want, (hive.path(key), i)
        # the wrapper's decoded values are python-registry's, decoded the same way
        want_values: list | None = []
        try:
            for v in key.values() if count < 200 else ():
                vk = v._vkrecord
                want_values.append((vk.name() if vk.has_name() else "", vk.data_type(),
                                    decode_value(vk.data_type(), vk.raw_data())))
        except Exception:  # python-registry gives up on the whole key; the wrapper reads what it can
            want_values = None
        if want_values is not None and count < 200:
            assert list(hive.values(key)) == want_values, hive.path(key)
    if "corrupted" not in rel:
        assert fast > 10 * max(slow, 1), (fast, slow)  # the fast path carries ordinary hives


def test_subkey_list_pointing_at_the_root_does_not_loop(corpus: Path, tmp_path: Path) -> None:
    src = corpus / "registry/win7-wks-win732bita/SYSTEM"
    if not src.is_file():
        pytest.skip("win7 SYSTEM hive not in the corpus")
    data = bytearray(src.read_bytes())
    hive = open_hive(src, [], replay=False).hive
    assert hive is not None
    root_rel = struct.unpack_from("<I", data, 0x24)[0]  # base block: root cell offset
    select = hive.key("ControlSet001\\Control")
    assert select is not None
    index = next(i for i, k in enumerate(hive.subkeys(select)) if k._nkrecord.subkey_number() > 0)
    nk = hive.subkeys(select)[index]._nkrecord  # a key with subkeys of its own
    list_at = hbin_base(nk) + nk.unpack_dword(0x1C) + 4
    assert bytes(data[list_at:list_at + 2]) in (b"lf", b"lh")
    struct.pack_into("<I", data, list_at + 4, root_rel)  # its first subkey is now the root itself
    hostile = tmp_path / "SYSTEM"
    hostile.write_bytes(bytes(data))
    h = open_hive(hostile, [], replay=False).hive
    assert h is not None
    key = h.key("ControlSet001\\Control")
    child = h.subkeys(key)[index]
    looped = h.subkeys(child)[0]  # the root again, reached from below
    assert looped._nkrecord.offset() == h.root()._nkrecord.offset()
    assert h.path(looped) == h._library_path(looped)
    assert h.path(child).endswith("\\ControlSet001\\Control\\" + child.name())


@pytest.mark.parametrize("rel", ("registry/win7-wks-win732bita/SYSTEM", "registry/win10-dirty-system/SYSTEM",
                                 "registry/win10-dirty-ntuser/NTUSER.DAT", "registry/synthetic-software/SOFTWARE",
                                 "registry/corrupted/SAMBadHBinHeader", "registry/corrupted/NotAHive",
                                 "registry/truncated/SYSTEM.truncated"))
def test_hive_opened_from_the_stream_gives_what_the_file_gives(corpus: Path, rel: str) -> None:
    """A batch worker opens a clean hive from the member's stream (no temporary copy); the records
    and issues are those of the file route, and a dirty hive still goes the file route (log replay)."""
    import dataclasses
    import functools

    from triage.parsers.base import input_from_file
    from triage.parsers.registry.parser import RegistryParser

    path = corpus / rel
    if not path.is_file():
        pytest.skip(f"{rel} not in the corpus")
    logs = tuple(sorted(p for p in path.parent.iterdir() if p.name.lower().startswith(path.name.lower() + ".log")))
    item = input_from_file(path, f"Windows/System32/config/{path.name}", companions=logs)
    copies: list[int] = []

    def materialize() -> Path:
        copies.append(1)
        return path

    by_file = list(RegistryParser().parse(item))
    streamed = dataclasses.replace(item, stream=functools.partial(open, path, "rb"), materialize=materialize)
    by_stream = list(RegistryParser().parse(streamed))
    assert by_stream == by_file
    assert by_file  # records or at least an issue saying why not
    dirty = path.read_bytes()[4:8] != path.read_bytes()[8:12]
    assert bool(copies) == dirty or rel.endswith(("NotAHive", "SYSTEM.truncated"))


@pytest.mark.parametrize("rel", HIVES)
def test_a_kept_subkey_list_is_the_list_read_again(corpus: Path, rel: str, monkeypatch) -> None:
    """Long subkey lists are kept once read (Hive.subkeys); a second call gives the same keys, a
    caller changing its copy does not change the kept list, and problems are recorded as before."""
    import triage.parsers.registry.hive as hive_mod

    path = corpus / rel
    if not path.is_file():
        pytest.skip(f"{rel} not in the corpus")
    kept, fresh = open_hive(path, [], replay=False).hive, open_hive(path, [], replay=False).hive
    monkeypatch.setattr(hive_mod, "CACHE_SUBKEYS_FROM", 1 << 30)   # nothing kept for 'fresh'
    walked = list(_keys(fresh, 600))
    monkeypatch.setattr(hive_mod, "CACHE_SUBKEYS_FROM", 2)
    long_lists = 0
    for key in walked:
        k = kept.key(fresh.path(key).split("\\", 1)[1]) if "\\" in fresh.path(key) else kept.root()
        if k is None:
            continue
        first = kept.subkeys(k)
        long_lists += len(first) >= 2
        first.clear()
        assert [s.name() for s in kept.subkeys(k)] == [s.name() for s in fresh.subkeys(key)]
    assert kept.problems == fresh.problems
    if "corrupted" not in rel:
        assert long_lists and kept._subkey_lists


def test_cached_subkeys_stay_within_their_bound(corpus: Path, monkeypatch) -> None:
    import triage.parsers.registry.hive as hive_mod

    path = corpus / "registry/win7-wks-win732bita/SYSTEM"
    if not path.is_file():
        pytest.skip("win7 SYSTEM hive not in the corpus")
    monkeypatch.setattr(hive_mod, "CACHE_SUBKEYS_FROM", 1)
    monkeypatch.setattr(hive_mod, "MAX_CACHED_SUBKEYS", 500)
    hive = open_hive(path, [], replay=False).hive
    list(_keys(hive, 2000))
    assert 0 < hive._cached_subkeys <= 500
    assert sum(len(v) for v in hive._subkey_lists.values()) == hive._cached_subkeys


def _utf16_reference(raw: bytes) -> str:
    end = len(raw) - (len(raw) % 2)
    for i in range(0, end, 2):
        if raw[i] == 0 and raw[i + 1] == 0:
            end = i
            break
    return raw[:end].decode("utf-16-le", errors="replace")


def test_utf16_text_ends_at_the_first_nul_code_unit() -> None:
    """decode_utf16_to_nul finds the NUL with bytes.find; it must stop where the unit-by-unit
    scan stops (a NUL byte pair straddling two code units is not the end)."""
    import random

    from triage.parsers.registry.hive import decode_utf16_to_nul

    rng = random.Random(7)
    cases = [b"", b"\x00", b"\x00\x00", b"a\x00\x00\x00", b"a\x00\x00", b"\x00\x00\x00", b"a\x00b\x00\x00\x00zz"]
    cases += [bytes(rng.choice((0, 0, 0, 1, 65, 0xD8, 0xDC)) for _ in range(rng.randint(0, 12)))
              for _ in range(20000)]
    assert [decode_utf16_to_nul(c) for c in cases] == [_utf16_reference(c) for c in cases]
