"""Hives written in tests with hivexregedit --merge on a copy of a corpus hive, for registry locations
no corpus hive holds (TaskCache, IFEO, the DEFAULT hive's autostarts...)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def reg_hex(data: bytes, kind: str = "hex") -> str:
    """A .reg file's hex: value for binary data."""
    return f"{kind}:" + ",".join(f"{b:02x}" for b in data)


def with_parents(reg: str) -> str:
    """hivexregedit creates a key only under an existing parent: add an empty section for each ancestor."""
    out, seen = [], set()
    for line in reg.splitlines():
        if line.startswith("[") and line.endswith("]"):
            parts = line[1:-1].split("\\")
            for i in range(3, len(parts)):
                anc = "\\".join(parts[:i])
                if anc.lower() not in seen:
                    seen.add(anc.lower())
                    out += [f"[{anc}]", ""]
            seen.add(line[1:-1].lower())
        out.append(line)
    return "\n".join(out) + "\n"


def merged_hive(source: Path, dest: Path, reg: str, prefix: str) -> Path:
    """Copy source to dest and merge the .reg text (keys under prefix, e.g. HKEY_LOCAL_MACHINE\\SOFTWARE)."""
    if not shutil.which("hivexregedit"):
        pytest.fail("hivexregedit is required (apt-get install libhivex-bin libwin-hivex-perl)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, dest)
    dest.chmod(0o644)
    regfile = dest.with_name(dest.name + ".reg")
    regfile.write_text(with_parents("Windows Registry Editor Version 5.00\n\n" + reg), encoding="utf-8")
    subprocess.run(["hivexregedit", "--merge", "--prefix", prefix, str(dest), str(regfile)], check=True,
                   capture_output=True)
    regfile.unlink()
    return dest
