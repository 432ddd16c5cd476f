"""Local wall-clock times (NetworkList) in UTC with the host's own time-zone rules from SYSTEM."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from triage.analyze.localtime import host_rules, localize_records
from triage.model import HostFact, Source
from triage.parsers.base import input_from_file
from triage.parsers.registry.networklist import NetworkProfile
from triage.parsers.registry.parser import RegistryParser
from triage.parsers.registry.timezone import in_daylight, local_to_utc

REGISTRY = Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "registry"
EASTERN = {"name": "Eastern Standard Time", "bias": 300, "standard_bias": 0, "daylight_bias": -60,
           "standard_start": [11, 0, 1, 2, 0], "daylight_start": [3, 0, 2, 2, 0]}
SYDNEY = {"name": "AUS Eastern Standard Time", "bias": -600, "standard_bias": 0, "daylight_bias": -60,
          "standard_start": [4, 0, 1, 3, 0], "daylight_start": [10, 0, 1, 2, 0]}


@pytest.mark.parametrize("rel", ["win10-dirty-system/SYSTEM", "win7-wks-win732bita/SYSTEM"])
def test_rules_read_from_real_system_hives(rel):
    path = REGISTRY / rel
    if not path.is_file():
        pytest.skip(f"corpus file missing: {path}")
    item = input_from_file(path, "files/C/Windows/System32/config/SYSTEM")
    item.options = {"replay_logs": False}
    rules = host_rules([r for r in RegistryParser().parse(item) if isinstance(r, HostFact)])
    assert rules == EASTERN  # both hosts are on US Eastern time (TimeZoneKeyName, Bias 300, DST rules)


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_eastern_conversion_across_both_switches():
    cases = [((2024, 5, 2, 21, 4, 5, 250000), _utc(2024, 5, 3, 1, 4, 5, 250000)),   # EDT: +4 h
             ((2024, 1, 10, 8, 0), _utc(2024, 1, 10, 13, 0)),                       # EST: +5 h
             ((2024, 3, 10, 1, 59), _utc(2024, 3, 10, 6, 59)),                      # just before the spring switch
             ((2024, 3, 10, 3, 0), _utc(2024, 3, 10, 7, 0)),                        # just after it
             ((2024, 11, 3, 0, 30), _utc(2024, 11, 3, 4, 30)),                      # before the autumn switch
             ((2024, 11, 3, 2, 30), _utc(2024, 11, 3, 7, 30)),                      # after it (standard again)
             ((2021, 3, 14, 12, 0), _utc(2021, 3, 14, 16, 0))]                      # 2nd Sunday of March 2021
    for local, expected in cases:
        assert local_to_utc(EASTERN, datetime(*local)) == expected, local  # noqa: DTZ001 - local on purpose


def test_southern_hemisphere_summer_spans_new_year_and_last_week_rule():
    assert in_daylight(SYDNEY, datetime(2024, 1, 15, 12, 0))  # noqa: DTZ001
    assert not in_daylight(SYDNEY, datetime(2024, 6, 15, 12, 0))  # noqa: DTZ001
    assert local_to_utc(SYDNEY, datetime(2024, 1, 15, 12, 0)) == _utc(2024, 1, 15, 1, 0)  # noqa: DTZ001
    assert local_to_utc(SYDNEY, datetime(2024, 6, 15, 12, 0)) == _utc(2024, 6, 15, 2, 0)  # noqa: DTZ001
    last = {**EASTERN, "daylight_start": [3, 0, 5, 1, 0], "standard_start": [10, 0, 5, 1, 0]}  # EU-style: last Sunday
    assert not in_daylight(last, datetime(2024, 3, 31, 0, 59)) and in_daylight(last, datetime(2024, 3, 31, 1, 0))  # noqa: DTZ001
    assert local_to_utc({**EASTERN, "standard_start": None, "daylight_start": None},
                        datetime(2024, 7, 1, 0, 0)) == _utc(2024, 7, 1, 5, 0)  # noqa: DTZ001 - no DST: Bias only
    assert local_to_utc(None, datetime(2024, 7, 1)) is None  # noqa: DTZ001


def _profile(first: str | None, last: str | None) -> NetworkProfile:
    return NetworkProfile(source=Source(bundle_path="files/C/Windows/System32/config/SOFTWARE", locator="p"),
                          guid="{G}", name="HomeWiFi", description_text=None, category="public", managed=False,
                          kind="wireless", first_connected_local=first, last_connected_local=last,
                          key_last_write=_utc(2024, 5, 2, 1, 0))


def test_network_profiles_get_utc_times_on_the_timeline():
    fact = HostFact(source=Source(bundle_path="files/C/Windows/System32/config/SYSTEM", locator="tz"),
                    key="timezone_rules", value=EASTERN)
    out = localize_records([_profile("2024-03-01T09:15:00.000", "2024-05-02T21:04:05.250"), fact])
    home = out[0]
    assert home.first_connected == _utc(2024, 3, 1, 14, 15) and home.last_connected == _utc(2024, 5, 3, 1, 4, 5, 250000)
    assert home.last_connected_local == "2024-05-02T21:04:05.250"  # the stored value stays
    assert [w for _t, w in home.times()][1:] == [
        "Network first connected (local time converted with the host's zone rules)",
        "Network last connected (local time converted with the host's zone rules)"]
    # no SYSTEM hive (no rules): the profile stays local-only; garbage text is not a time
    alone = localize_records([_profile("2024-03-01T09:15:00.000", "not a time")])
    assert alone[0].first_connected is None
    bad = localize_records([_profile("2024-03-01T09:15:00+02:00", "not a time"), fact])
    assert bad[0].first_connected is None and bad[0].last_connected is None
