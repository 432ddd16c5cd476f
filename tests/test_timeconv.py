"""triage.timeconv: one arithmetic, two bound sets, hostile values are 'no time'."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from triage import timeconv as T
from triage import units
from triage.parsers import wintime

FT_2020 = 132223104000000000  # 2020-01-01T00:00:00Z as FILETIME


def test_same_instant_in_every_epoch():
    want = datetime(2020, 1, 1, tzinfo=UTC)
    assert T.filetime_utc(FT_2020) == T.from_filetime(FT_2020) == want
    assert T.webkit_utc(FT_2020 // 10) == T.from_webkit(FT_2020 // 10) == want
    assert T.prtime_utc(1577836800 * 10**6) == want
    assert T.unix_utc(1577836800) == want


def test_filetime_truncates_to_the_microsecond_in_integers():
    assert T.filetime_utc(FT_2020 + 19).microsecond == 1   # 1.9 us -> 1 us, never rounded up


@pytest.mark.parametrize("value", [None, 0, -1, "132223104000000000", b"\x00" * 8, 1.5e300, float("nan"), True])
def test_hostile_values_are_no_time(value):
    assert T.filetime_utc(value) is None and T.webkit_utc(value) is None
    assert T.prtime_utc(value) is None and T.unix_utc(value) is None


def test_the_two_bound_sets():
    year_1900 = 94354848000000000      # 1900-01-01 as FILETIME: structured metadata may say so
    assert T.filetime_utc(year_1900) is None                       # PLAUSIBLE: 1970-01-02 .. 2200
    assert T.from_filetime(year_1900) == datetime(1900, 1, 1, tzinfo=UTC)  # WIDE: shown as evidence
    year_2500 = 284012352000000000     # 2500-01-01
    assert T.filetime_utc(year_2500) is None and T.from_filetime(year_2500) is not None
    assert T.from_filetime(2**63) is None and T.from_filetime(T._FILETIME_EPOCH_DELTA // 2 - 1) is None


def test_old_homes_re_export_the_one_home():
    assert units.from_filetime is T.from_filetime and units.from_webkit is T.from_webkit
    assert wintime.filetime_utc is T.filetime_utc and wintime.prtime_utc is T.prtime_utc


def test_evtx_text_keys_sort_as_time():
    keys = [T.ts_key(s) for s in ("2022-02-05T21:49:54.18Z UTC", "2022-02-05T21:49:54Z UTC",
                                  "2022-02-05T21:49:54.1807942Z UTC")]
    assert keys == ["2022-02-05T21:49:54.1800000", "2022-02-05T21:49:54.0000000", "2022-02-05T21:49:54.1807942"]
    assert T.key_datetime(keys[2]) == datetime(2022, 2, 5, 21, 49, 54, 180794, tzinfo=UTC)
    assert T.key_datetime("garbage") is None
