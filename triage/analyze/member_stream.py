"""A bundle member for one front-to-back read, without a temporary copy.

Why: the analysis hands a parser its member either streamed (``open``: big deflated members are first
copied to a private temporary file so that seeking is cheap) or as a path (``materialize``: a copy with
its companions). A parser that reads the whole member into memory in one go (a clean registry hive)
needs neither the seekable copy nor the companions; on a fleet of small hosts writing those copies and
reading them back was a measurable part of each worker's time.
"""

from __future__ import annotations

from typing import IO, Any


def member_stream(mat: Any) -> IO[bytes]:
    """The member of ``mat`` (a host analysis ``_Materializer``) for one sequential read: its private
    copy when one was made already (by the prefetch thread or an earlier parser), else inflated from
    the zip as it is read."""
    if mat.path is not None:
        return open(mat.path, "rb")
    return mat.reader.open(mat.entry.bundle_path)
