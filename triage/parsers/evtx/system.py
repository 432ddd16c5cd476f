"""The System block of a pyevtx-rs record's JSON: event id, provider, channel, computer and time,
decoded from the text by layout (head and tail around the varying parts) and cached per layout.

Why not json.loads per record: the analysis must stay within 2x of bare engine iteration, and most
records only need these few fields for the statistics and the Sigma buckets; the full payload is
decoded only for records a typed event or a Sigma candidate needs (:func:`payload`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from triage.parsers.evtx import event_types as evtx_types
from triage.parsers.evtx import events as ee
from triage.timeconv import key_datetime, ts_key

UNPARSED = "<unparsed>"  # the event id of a record whose System block could not be read

# 4624 logons of the machine itself: service/system logons (type 5/0) of SYSTEM, LOCAL SERVICE,
# NETWORK SERVICE, and the Desktop Window Manager / font driver virtual accounts (S-1-5-90-*,
# S-1-5-96-*, type 2) at every boot. They are most of a Security log (97% of the corpus' 4624s) and
# carry no investigative content: counted in the statistics, not typed as Events, unless the
# option evtx_all_logons is set. TargetUserSid precedes LogonType in the 4624 template.
MACHINE_LOGON = re.compile(
    r'"TargetUserSid":"(?:S-1-5-(?:18|19|20)"[^{}]*?"LogonType":"?[05]"?[,}]'
    r'|S-1-5-9[06]-[0-9-]+"[^{}]*?"LogonType":"?2"?[,}])')
_JSON = json.JSONDecoder()  # raw_decode: no whitespace regex around a part that has none


_PROVIDER = '"Provider":{"#attributes":{'
_NAME = '"Name":"'
_EVENTID = '"EventID":'
_QUALIFIED_ID = '"#text":'
VERSION_MARK = ',"Version":'
CHANNEL_MARK = '"Channel":'
SECURITY_MARK = ',"Security":'
# Decoded-prefix caches are emptied when they grow past this (a hostile log with unique prefixes).
MAX_CACHE = 4096
# System layouts (head and tail texts) remembered besides the last one, tried before decoding.
RECENT_LAYOUTS = 4


@dataclass(frozen=True, slots=True, eq=False)
class Head:
    """What the start of a System block says: provider, event id, and how the table types it
    (looked up once per distinct head, not per record).

    eq=False: instances are shared through the prefix caches and hashed by identity in the hot loop
    (a generated __hash__ would cost more than the rest of the per-record work)."""

    provider: str | None
    event_id: int | str
    spec: ee.Spec | None = None
    connectivity: Any = None
    script: bool = False
    notable: bool = False
    skip: re.Pattern[str] | None = None  # routine records of this id (evtx_types.SKIP), not typed


@dataclass(frozen=True, slots=True, eq=False)
class Tail:
    """Channel and Computer of a System block, and the (category, description) that makes every
    record of that channel notable, if any."""

    channel: str | None
    computer: str | None
    by_channel: tuple[str, str] | None = None
    notable: bool = False


_BAD = Tail(None, None)  # marker: this prefix is not laid out as expected


def _make_head(provider: str | None, eid: int | str) -> Head:
    norm = ee.normalize_provider(provider)
    if not isinstance(eid, int):  # UNPARSED: no table knows it
        return Head(provider, eid, None, None, False, False, None)
    spec = ee.NOTABLE.get((norm, eid)) or evtx_types.SPECS.get((norm, eid))
    conn = ee.CONNECTIVITY.get((norm, eid))
    script = eid == ee.POWERSHELL_SCRIPT_EVENT and norm in ee.POWERSHELL_SCRIPT_PROVIDERS
    return Head(provider, eid, spec, conn, script, bool(spec or conn or script), evtx_types.SKIP.get((norm, eid)))


def _make_tail(channel: str | None, computer: str | None) -> Tail:
    by_channel = ee.NOTABLE_CHANNELS.get((channel or "").lower())
    return Tail(channel, computer, by_channel, by_channel is not None)


def _decode_head(head: str) -> Head | Tail:
    """'{"Event":{..,"System":{"Provider":{"#attributes":{"Name":"X",..}},"EventID":N,..' -> Head.

    Plain string searches: a JSON string never contains an unescaped '"Key":', so what is found is
    structure, not text. Escaped names or any other layout -> _BAD (the record is decoded with json).
    """
    p = head.find(_PROVIDER, 0, 200)
    if p < 0:
        return _BAD
    p += len(_PROVIDER)
    provider = None
    if head.startswith(_NAME, p):
        end = head.find('"', p + len(_NAME))
        if end < 0 or "\\" in head[p + len(_NAME):end]:
            return _BAD
        provider, p = head[p + len(_NAME):end], end
    i = head.find(_EVENTID, p)
    if i < 0:
        return _BAD
    i += len(_EVENTID)
    if head.startswith("{", i):
        i = head.find(_QUALIFIED_ID, i)
        if i < 0:
            return _BAD
        i += len(_QUALIFIED_ID)
    j = i
    while head[j:j + 1].isdigit():
        j += 1
    if j == i or head[j:] not in ("", "}"):
        return _BAD
    return _make_head(provider, int(head[i:j]))


def _decode_tail(tail: str) -> Tail:
    """'"Channel":"Security","Computer":"HOST"' -> Tail; anything else -> _BAD."""
    try:
        obj = json.loads("{" + tail + "}")
    except ValueError:
        return _BAD
    if not isinstance(obj, dict) or set(obj) != {"Channel", "Computer"}:
        return _BAD
    channel, computer = obj["Channel"], obj["Computer"]
    if not all(v is None or isinstance(v, str) for v in (channel, computer)):
        return _BAD
    return _make_tail(channel, computer)


def payload(data: str) -> dict[str, Any]:
    """EventData/UserData of a record as a flat dict, decoding only that part of the JSON when the
    record is laid out as usual (System, then EventData or UserData, last): about 2x cheaper than
    decoding the whole record, which is the fallback."""
    for marker in ('},"EventData":', '},"UserData":'):
        k = data.find(marker)
        if k > 0 and data.endswith("}}"):
            part = data[k + len(marker):-2]
            try:
                obj, end = _JSON.raw_decode(part)
            except ValueError:
                break
            if end != len(part):
                break
            return ee.payload_data(obj) if marker[3] == "E" else ee.payload_data(None, obj)
    return ee.event_data(json.loads(data)["Event"])


def _cache(cache: dict, key: str, decode: Any) -> Any:
    if len(cache) >= MAX_CACHE:
        cache.clear()
    value = cache[key] = decode(key)
    return value


def _slow_system(data: str) -> tuple[Head, Tail]:
    """System fields of a record the fast path could not read, with json.loads."""
    try:
        system = json.loads(data)["Event"]["System"]
        provider = (system.get("Provider") or {}).get("#attributes", {}).get("Name")
        channel, computer = system.get("Channel"), system.get("Computer")
        head = _make_head(provider if isinstance(provider, str) else None, int(ee.text(system.get("EventID"))))
        return head, _make_tail(channel if isinstance(channel, str) else None,
                                computer if isinstance(computer, str) else None)
    except (ValueError, KeyError, TypeError, AttributeError):
        return Head(None, UNPARSED), Tail(None, None)


class SystemDecoder:
    """(head, tail) of each record's System block, cheaply.

    System is laid out <head: Provider, EventID> ,"Version" ... <tail: "Channel","Computer"> ,"Security".
    Consecutive records mostly repeat the previous head and tail, so those are compared first (two
    prefix compares); otherwise the parts are sliced and looked up in caches of decoded parts.
    Anything laid out otherwise is decoded with json.loads.
    """

    def __init__(self, sigma: Any = None) -> None:
        self.sigma = sigma  # a triage.sigma Engine: each pair gets the bucket of rules it can meet
        self.heads: dict[str, Head | Tail] = {}
        self.tails: dict[str, Tail] = {}
        self.head_text = self.tail_text = "\x00"  # matches no record
        self.head: Head | Tail | None = None
        self.tail: Tail | None = None
        self.pairs: dict[tuple, Pair] = {}

    def pair(self, data: str) -> Pair:
        """The counting object for this record's System values (one per distinct provider, event
        id, channel and computer, however many prefix texts decode to them)."""
        head, tail = self.decode(data)
        key = (head.provider, head.event_id, tail.channel, tail.computer)
        found = self.pairs.get(key)
        if found is None:
            found = self.pairs[key] = Pair(head, tail)
            if self.sigma is not None and not found.unparsed:
                found.sigma = self.sigma.bucket(tail.channel, head.event_id, head.provider)
        return found

    def counts(self) -> dict[tuple[Any, str | None, str | None], int]:
        """Records per (event id, channel, computer)."""
        out: Counter = Counter()
        for p in self.pairs.values():
            if p.n:
                out[(p.head.event_id, p.tail.channel, p.tail.computer)] += p.n
        return dict(out)

    def decode(self, data: str) -> tuple[Head, Tail]:
        if data.startswith(self.head_text) and data.startswith(VERSION_MARK, len(self.head_text)):
            head, a = self.head, len(self.head_text)
        else:
            a = data.find(VERSION_MARK, 0, 4096)
            head = None
            if a > 0:
                text = data[:a]
                head = self.heads.get(text) or _cache(self.heads, text, _decode_head)
                if head is not _BAD:
                    self.head_text, self.head = text, head
        # The first '"Channel":' after the head is System's: the keys in between are fixed and a
        # JSON string cannot hold an unescaped '"Channel":'.
        c = data.find(CHANNEL_MARK, a) if a > 0 else -1
        if c > 0 and data.startswith(self.tail_text, c) and data.startswith(SECURITY_MARK, c + len(self.tail_text)):
            tail = self.tail
        else:
            e = data.find(SECURITY_MARK, c) if c > 0 else -1
            tail = None
            if e > 0:
                text = data[c:e]
                tail = self.tails.get(text) or _cache(self.tails, text, _decode_tail)
                if tail is not _BAD:
                    self.tail_text, self.tail = text, tail
        if head is None or tail is None or head is _BAD or tail is _BAD:
            return _slow_system(data)
        return head, tail  # type: ignore[return-value]


class Pair:
    """The (head, tail) of a run of records and how many records had it: the hot loop counts on
    this object (one attribute increment) instead of hashing a key per record."""

    __slots__ = ("head", "tail", "n", "notable", "unparsed", "sigma")

    def __init__(self, head: Head, tail: Tail) -> None:
        self.head, self.tail, self.n = head, tail, 0
        self.sigma: Any = None  # the Sigma rules records of this kind can match (None: none)
        self.notable = head.notable or tail.notable
        self.unparsed = head.event_id == UNPARSED



_CREATED = '"TimeCreated":{"#attributes":{"SystemTime":"'


def created_time(data: str) -> datetime | None:
    """System/TimeCreated/@SystemTime of a record's JSON (the event's time), or None."""
    i = data.find(_CREATED, 0, 4096)
    if i < 0:
        return None
    i += len(_CREATED)
    j = data.find('"', i, i + 40)
    if j < 0:
        return None
    return record_time(data[i:j])


def record_time(text: str) -> datetime | None:
    """pyevtx-rs record time ('2022-02-05T21:49:54.1807942Z UTC') -> aware UTC datetime, truncated
    to the microsecond (Python 3.11's fromisoformat reads 'Z' and truncates extra digits)."""
    try:
        return datetime.fromisoformat(text.removesuffix(" UTC"))
    except ValueError:
        return key_datetime(ts_key(text))
