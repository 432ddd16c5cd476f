"""The ``<bundle>.sha256`` sidecar: one home for its name, its format and its bounded read.

Why a sidecar: a bundle's own SHA-256 cannot be inside it, and ``sha256sum -c`` is what anyone checking
evidence without our code has at hand; so every bundle (plain or encrypted, written by the collector,
by ``triage recover`` or stored by the intake server) gets one line in sha256sum's format beside it:
``"<hex>  <name>\\n"``. A sidecar comes from wherever the bundle came from and may be hostile: only its
first :data:`MAX_BYTES` are read.
"""

from __future__ import annotations

from pathlib import Path

SUFFIX = ".sha256"
MAX_BYTES = 4096  # a sidecar is one line; a hostile one may be gigabytes


def sidecar_path(path: str | Path) -> Path:
    """The sidecar of the file at ``path``: the same name with ``.sha256`` appended."""
    path = Path(path)
    return path.with_name(path.name + SUFFIX)


def write_sidecar(path: str | Path, sha256_hex: str) -> Path:
    """Write ``path``'s sidecar (``"<hex>  <name>"``, sha256sum's format) and return its path."""
    side = sidecar_path(path)
    side.write_text(f"{sha256_hex}  {Path(path).name}\n", encoding="utf-8")
    return side


def sidecar_words(path: str | Path) -> list[str]:
    """The whitespace-separated words of the first MAX_BYTES of ``path``'s sidecar; OSError when there
    is no readable sidecar (the caller says which: missing and unreadable are different problems)."""
    with open(sidecar_path(path), "rb") as fh:
        return fh.read(MAX_BYTES).decode("utf-8", "replace").split()


def read_sidecar(path: str | Path) -> str | None:
    """The recorded SHA-256 (lower-case first word) of ``path``'s sidecar, or None when there is none,
    it cannot be read or it is empty."""
    try:
        words = sidecar_words(path)
    except OSError:
        return None
    return words[0].lower() if words else None
