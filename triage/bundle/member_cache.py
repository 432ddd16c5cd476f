"""Members kept in memory as they were verified, so the analysis inflates each byte once.

Why: the analysis of a small host reads every member three times: verification hashes it, YARA
scans it, a parser reads it; each read inflated it again from the zip. On a fleet of small hosts
inflating was about a tenth of a worker's time. :func:`triage.bundle.verify.verify_bundle` hands
every member's bytes to a ``copy_out`` as it hashes them; :meth:`MemberCache.copy_out` keeps them,
and a :class:`triage.bundle.reader.BundleReader` given the cache serves those members from memory.

Soundness: a member is kept only when it was read to its end without error (the zip's CRC-32 and
size were checked by the same read), so the bytes served are the very bytes that were hashed. A
member that verification could not read is not kept: the parser reads it from the zip and meets
the same error it always met. A member whose hash does not match the manifest is kept like any
other: the bundle is then refused (nothing is parsed) unless ``--force`` asks for its contents.

Memory: bounded. Members above ``member_cap`` bytes and members that would take the total above
``budget`` are not kept (they are inflated again, as before); a member that turns out longer than
its manifest size says stops being copied at its declared size.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# The demo-like hosts of the fleet benchmark hold 15-35 MB of members, the biggest a 12 MB SYSTEM
# hive: both caps leave such a host whole, and a worker's memory bounded whatever the bundle holds.
DEFAULT_BUDGET = 64 << 20
DEFAULT_MEMBER_CAP = 16 << 20


class _Blocks:
    """The blocks of one member as verification reads them, refusing to grow past ``limit`` bytes
    (OSError: verification then stops copying this member, keeps hashing it, and reports the copy
    as failed). Blocks are kept as read and joined once: no copy per write, no regrowing buffer."""

    def __init__(self, limit: int) -> None:
        self.limit, self.size = limit, 0
        self.blocks: list[bytes] = []

    def write(self, block: Any) -> int:
        if self.size + len(block) > self.limit:
            raise OSError(f"member is longer than its declared {self.limit} bytes")
        self.blocks.append(block if type(block) is bytes else bytes(block))
        self.size += len(block)
        return len(block)

    def tell(self) -> int:
        return self.size

    def getvalue(self) -> bytes:
        return self.blocks[0] if len(self.blocks) == 1 else b"".join(self.blocks)

    def close(self) -> None:
        self.blocks = []


class MemberCache:
    """Verified members' bytes by bundle path (see the module docstring)."""

    def __init__(self, budget: int | None = None, member_cap: int | None = None) -> None:
        self.members: dict[str, bytes] = {}
        self.left = DEFAULT_BUDGET if budget is None else budget
        self.member_cap = DEFAULT_MEMBER_CAP if member_cap is None else member_cap

    def copy_out(self, entry: Any) -> tuple[_Blocks, Callable[[BaseException | None], None]] | None:
        """verify_bundle's ``copy_out``: a buffer for ``entry``'s bytes and the callback that keeps
        them once the member was read without error; None when the member is not to be kept."""
        size, name = getattr(entry, "size", None), getattr(entry, "bundle_path", None)
        if not isinstance(size, int) or not isinstance(name, str) or size < 0:
            return None
        if size > self.member_cap or size > self.left or name in self.members:
            return None
        buf = _Blocks(size)
        self.left -= size  # reserved now: members are read one after the other

        def done(error: BaseException | None) -> None:
            if error is None and buf.tell() == size:
                self.members[name] = buf.getvalue()
            else:
                self.left += size
            buf.close()

        return buf, done
