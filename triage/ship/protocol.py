"""The intake protocol's shared rules: paths, headers, limits, name and token checks.

Client and server both import this so that what the client refuses to send and what the
server refuses to accept can never drift apart. The wire protocol is documented in
docs/ship-format.md.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TypeGuard

API = "/v1"
CHUNK_HASH_HEADER = "X-Chunk-SHA256"
CONTENT_HASH_HEADER = "X-Content-SHA256"      # whole-file PUT (curl -T)
DEFAULT_CHUNK_SIZE = 8 << 20
MIN_CHUNK_SIZE = 1 << 10
DEFAULT_MAX_CHUNK_SIZE = 64 << 20
DEFAULT_MAX_BUNDLE_SIZE = 64 << 30
MAX_NAME_LENGTH = 200
BUNDLE_SUFFIXES = (".zip", ".tbe")

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+@-]*")
_CASE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a bundle name in the store, or None when it can.

    Bundle names become file names under the store: anything that could climb out of the case
    directory, hide as a dot-file, confuse a shell or a log reader is refused outright rather than
    "cleaned" (a cleaned name would no longer match the sender's sidecar and receipts).
    """
    if not isinstance(name, str):
        return "name must be a string"
    if not name:
        return "name is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"name longer than {MAX_NAME_LENGTH} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "name contains control characters"
    if "/" in name or "\\" in name:
        return "name contains a path separator"
    if ".." in name:
        return "name contains '..'"
    if not _NAME.fullmatch(name):
        return "name may only hold A-Z a-z 0-9 . _ + @ - and must start with a letter or digit"
    if not name.lower().endswith(BUNDLE_SUFFIXES):
        return f"name must end with {' or '.join(BUNDLE_SUFFIXES)}"
    return None


def case_problem(case_id: str) -> str | None:
    if not _CASE.fullmatch(case_id or ""):
        return f"bad case id {case_id!r}: 1-64 of A-Z a-z 0-9 . _ - starting with a letter or digit"
    if ".." in case_id:
        return f"bad case id {case_id!r}: contains '..'"
    return None


def is_sha256(text: object) -> TypeGuard[str]:
    return isinstance(text, str) and bool(_SHA256.fullmatch(text))


def is_upload_id(text: str) -> bool:
    return bool(_UPLOAD_ID.fullmatch(text))


def upload_id(case_id: str, name: str, sha256: str) -> str:
    """Deterministic: the same bundle from the same case always resumes the same upload."""
    return hashlib.sha256(f"{case_id}\x00{name}\x00{sha256}".encode()).hexdigest()[:32]


def chunk_count(size: int, chunk_size: int) -> int:
    return max(1, -(-size // chunk_size))


def chunk_length(index: int, size: int, chunk_size: int) -> int:
    """Bytes chunk ``index`` must hold (the last one is short; an empty bundle has one empty chunk)."""
    start = index * chunk_size
    return max(0, min(chunk_size, size - start))


@dataclass(frozen=True, slots=True)
class CaseToken:
    """One bearer token and the case it may upload to; ``fingerprint`` names it in logs."""
    case_id: str
    token: str

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.token.encode()).hexdigest()[:12]


def parse_token(text: str, default_case: str = "default") -> CaseToken:
    """``CASE:TOKEN`` or bare ``TOKEN`` (case ``default``). Tokens shorter than 16 chars are refused."""
    text = text.strip()
    case_id, token = default_case, text
    if ":" in text:
        head, tail = text.split(":", 1)
        if case_problem(head) is None:
            case_id, token = head, tail
    if len(token) < 16:
        raise ValueError(f"token for case {case_id!r} is too short (need at least 16 characters; "
                         "make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')")
    if any(c.isspace() for c in token):
        raise ValueError(f"token for case {case_id!r} contains whitespace")
    return CaseToken(case_id, token)


def parse_token_file(text: str) -> list[CaseToken]:
    """One ``case_id:token`` per line; blank lines and ``#`` comments ignored."""
    tokens = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        head = line.split(":", 1)[0]
        if ":" not in line or case_problem(head):
            raise ValueError(f"token file line {number}: expected 'case_id:token'")
        tokens.append(parse_token(line))
    return tokens
