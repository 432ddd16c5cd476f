import pytest

from triage.units import from_filetime, from_webkit, iso, parse_duration, parse_size


@pytest.mark.parametrize("text, value", [("500MB", 500_000_000), ("2GiB", 2 * 1024**3), ("4096", 4096),
                                         ("1.5KiB", 1536), ("10 kb", 10_000), (7, 7)])
def test_sizes(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("bad", ["", "MB", "5 parsecs", "-1", "1e9", "12XB"])
def test_bad_sizes(bad):
    with pytest.raises(ValueError, match="not a size"):
        parse_size(bad)


@pytest.mark.parametrize("text, value", [("90s", 90), ("10m", 600), ("1h30m", 5400), ("45", 45), ("250ms", 0.25)])
def test_durations(text, value):
    assert parse_duration(text) == value


@pytest.mark.parametrize("bad", ["", "ten minutes", "10x", "m10", "5m3"])
def test_bad_durations(bad):
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(bad)


def test_time_conversions_are_utc():
    assert iso(from_filetime(132223104000000000)) == "2020-01-01T00:00:00Z"
    assert iso(from_webkit(13222310400000000)) == "2020-01-01T00:00:00Z"
    assert from_filetime(0) is None
