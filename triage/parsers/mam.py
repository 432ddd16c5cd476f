"""Windows 10+ "MAM" compression (``MAM\\x04`` + uint32 decompressed size + LZXpress Huffman), as
prefetch files use it: one home for the signature, the size bound and the decompression.

Why bounded before decompressing: the size comes from the (possibly hostile) file itself; a header
claiming gigabytes must be refused before a buffer that large is asked for. Both the prefetch parser
(which hands the file to libscca) and the YARA scanner (which scans the decompressed bytes) check the
header here.
"""

from __future__ import annotations

import struct

MAM_SIGNATURE = b"MAM\x04"
# Real prefetch files decompress to a few MiB at worst; a bigger claim is not a prefetch file.
MAX_DECOMPRESSED_SIZE = 64 * 1024 * 1024


def mam_size(data: bytes, limit: int = MAX_DECOMPRESSED_SIZE) -> tuple[int | None, str | None]:
    """(decompressed size, None) of a MAM-compressed buffer, or (None, why) when its header is cut
    short or claims more than ``limit`` bytes."""
    if len(data) < 8:
        return None, "MAM header cut short"
    (size,) = struct.unpack_from("<I", data, 4)
    if size > limit:
        return None, f"MAM header claims {size} decompressed bytes (limit {limit}): not decompressed"
    return size, None


def decompress_mam(data: bytes, limit: int = MAX_DECOMPRESSED_SIZE) -> tuple[bytes | None, str | None]:
    """(decompressed bytes, None), or (None, why) for a bad header or damaged data (libfwnt)."""
    size, why = mam_size(data, limit)
    if size is None:
        return None, why
    try:
        import pyfwnt

        return pyfwnt.lzxpress_huffman_decompress(data[8:], size), None
    except Exception as exc:  # libfwnt raises IOError/ValueError/RuntimeError on damaged data
        return None, f"MAM decompression failed: {exc}"
