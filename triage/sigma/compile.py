"""pySigma condition trees -> triage's small, picklable rule form (nested tuples).

Why our own form and not pySigma objects at match time: a batch compiles a rule set once and caches it
on disk (pickle); worker processes load it in milliseconds; and evaluation needs only a few node kinds:

    ("and", (node, ...))  ("or", (node, ...))  ("not", node)  ("true",)  ("false",)
    ("f", field, op, arg, cased)   a field test; field is lower-case (records are keyed that way)
    ("kw", None, op, arg, cased)   a keyword (field-less) test over every value of the record

ops: eq/sw/ew/ct (string equals/starts/ends/contains), glob (regex text from wildcards), re (regex,
flags), num (number equality), cmp ((operator, number)), null, exists (bool), cidr (network text),
fref ((other field, startswith, endswith)), bool. Strings are lower-cased unless ``cased`` (Sigma
matching is case-insensitive by default; ``|cased`` and ``|re`` are not).

Anything that cannot be evaluated raises :class:`Unsupported` with the reason; the loader skips that
rule and reports the reason.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Set as AbstractSet
from typing import Any, cast

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.types import (
    CompareOperators,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SpecialChars,
)

Node = tuple

# Fields the index handles (every rule in a bucket already satisfies them), and fields the engine
# derives (4688's User and IntegrityLevel are not in the record's text as such): no prefilter atoms.
DERIVED_FIELDS = frozenset({"user", "integritylevel"})
INDEX_FIELDS = frozenset({"eventid", "channel"}) | DERIVED_FIELDS
# Shorter literals are too common to pre-filter on: such a rule is simply always evaluated (unless
# the literal is punctuation with one of RARE_CHARS: cmd's escape, PowerShell's, braces).
MIN_ATOM = 3
RARE_CHARS = frozenset("^`{}$~")

_CMP = {CompareOperators.LT: "lt", CompareOperators.LTE: "lte", CompareOperators.GT: "gt",
        CompareOperators.GTE: "gte", CompareOperators.NEQ: "neq"}
_RE_FLAGS = {SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
             SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
             SigmaRegularExpressionFlag.DOTALL: re.DOTALL}


class Unsupported(Exception):
    """A rule part triage cannot evaluate; the message is the reason shown to the user."""


def compile_condition(tree: Any) -> Node:
    """One parsed pySigma condition (``rule.detection.parsed_condition[i].parsed``) -> node."""
    if isinstance(tree, ConditionAND):
        return _group("and", [compile_condition(a) for a in tree.args])
    if isinstance(tree, ConditionOR):
        return _group("or", [compile_condition(a) for a in tree.args])
    if isinstance(tree, ConditionNOT):
        return ("not", compile_condition(tree.args[0]))
    if isinstance(tree, ConditionFieldEqualsValueExpression):
        if tree.field is None:
            return _value("kw", None, tree.value)
        return _value("f", tree.field.lower(), tree.value)
    if isinstance(tree, ConditionValueExpression):
        return _value("kw", None, tree.value)
    raise Unsupported(f"condition element {type(tree).__name__} is not supported")


def _group(kind: str, children: list[Node]) -> Node:
    flat: list[Node] = []
    for c in children:
        if c[0] == kind:
            flat.extend(c[1])
        else:
            flat.append(c)
    return flat[0] if len(flat) == 1 else (kind, tuple(flat))


def _value(kind: str, field: str | None, value: Any) -> Node:
    if isinstance(value, SigmaExpansion):  # windash, base64offset...: alternatives, OR-linked
        return _group("or", [_value(kind, field, v) for v in value.values])
    if isinstance(value, SigmaString):
        return _string(kind, field, value, isinstance(value, SigmaCasedString))
    if isinstance(value, SigmaNumber):
        return (kind, field, "num", value.number, False)
    if isinstance(value, SigmaBool):
        return (kind, field, "bool", bool(value.boolean), False)
    if isinstance(value, SigmaNull):
        return (kind, field, "null", None, False)
    if isinstance(value, SigmaExists):
        if field is None:
            raise Unsupported("exists modifier without a field")
        return (kind, field, "exists", bool(value.exists), False)
    if isinstance(value, SigmaRegularExpression):
        flags = 0
        for f in value.flags:
            flags |= _RE_FLAGS.get(f, 0)
        pattern = value.regexp.to_plain() if isinstance(value.regexp, SigmaString) else str(value.regexp)
        try:
            re.compile(pattern, flags)
        except re.error as exc:
            raise Unsupported(f"regular expression does not compile in Python: {exc}") from exc
        return (kind, field, "re", (pattern, flags), True)
    if isinstance(value, SigmaCIDRExpression):
        return (kind, field, "cidr", str(value.network), False)
    if isinstance(value, SigmaCompareExpression):
        return (kind, field, "cmp", (_CMP[value.op], value.number.number), False)
    if isinstance(value, SigmaFieldReference):
        if field is None:
            raise Unsupported("fieldref without a field")
        return (kind, field, "fref", (value.field.lower(), bool(getattr(value, "starts_with", False)),
                                      bool(getattr(value, "ends_with", False))), False)
    raise Unsupported(f"value type {type(value).__name__} is not supported")


def _string(kind: str, field: str | None, value: SigmaString, cased: bool) -> Node:
    parts = list(value.s)
    fold = (lambda s: s) if cased else str.lower
    lead = bool(parts) and parts[0] == SpecialChars.WILDCARD_MULTI
    trail = len(parts) > 1 and parts[-1] == SpecialChars.WILDCARD_MULTI
    if lead:
        parts = parts[1:]
    if trail:
        parts = parts[:-1]
    if all(isinstance(p, str) for p in parts):
        text = fold("".join(cast("list[str]", parts)))  # all() does not narrow the list's type
        if kind == "kw" and not lead and not trail:
            # a plain keyword is a full-text search term: contained anywhere in the record
            return (kind, field, "ct", text, cased)
        op = "ct" if lead and trail else "ew" if lead else "sw" if trail else "eq"
        if op == "ct" and text == "":
            return (kind, field, "glob", (".*", ""), cased) if field is None else ("f", field, "exists", True, False)
        return (kind, field, op, text, cased)
    pieces = [] if lead else ["^"]
    if lead:
        pieces.append("")
    literals: list[str] = []
    for p in parts:
        if isinstance(p, str):
            pieces.append(re.escape(fold(p)))
            literals.append(fold(p))
        elif p == SpecialChars.WILDCARD_MULTI:
            pieces.append(".*")
        elif p == SpecialChars.WILDCARD_SINGLE:
            pieces.append(".")
        else:
            raise Unsupported(f"placeholder {p!r} in a value is not supported")
    if not trail:
        pieces.append(r"\Z")
    longest = max(literals, key=len) if literals else ""
    return (kind, field, "glob", ("".join(pieces), longest), cased)


# -- what the index and the pre-filter use ---------------------------------------------------------

def constraint(node: Node, field: str) -> frozenset | None:
    """The values ``field`` must equal for ``node`` to match (None: any value). Used for EventID
    and Channel, so the index can put a rule only in the buckets it can match."""
    kind = node[0]
    if kind == "f":
        if node[1] != field:
            return None
        if node[2] == "num":
            return frozenset({str(node[3]).lower()})
        if node[2] == "eq":
            return frozenset({node[3].lower()})
        return None
    if kind == "and":
        sets = [s for s in (constraint(c, field) for c in node[1]) if s is not None]
        if not sets:
            return None
        out = sets[0]
        for s in sets[1:]:
            out = out & s
        return out
    if kind == "or":
        alts = [constraint(c, field) for c in node[1]]
        known = [s for s in alts if s is not None]
        if len(known) < len(alts):  # a branch that allows any value: so does the whole 'or'
            return None
        return frozenset().union(*known)
    if kind == "false":
        return frozenset()
    return None


# Fields whose values are nearly constant within a bucket, and the other System fields: no pre-filter
# atoms (the pre-filter reads only the record's EventData/UserData text, see match.Bucket).
WEAK_FIELDS = frozenset({"provider_name", "provider_guid", "provider_eventsourcename", "eventsourcename",
                         "computer", "level", "task", "opcode", "keywords", "version", "eventrecordid",
                         "timecreated", "activityid", "relatedactivityid", "processid", "threadid", "userid",
                         "security_userid"})
# Lower-case names in every Sysmon event's EventData (Sysmon's event schema): in every such record's
# text whatever a rule tests (triage.sigma.keynames).
COMMON_NAMES = frozenset({"rulename", "utctime", "processguid", "processid"})
# Groups kept per rule (the longest-literal ones): enough to make candidates rare.
MAX_GROUPS = 4


def atoms(node: Node, derived: bool = True, names: Any = None) -> list[frozenset] | None:
    """Pre-filter groups of a node: lower-case literals such that, in every record the node matches,
    at least one literal of EACH group occurs in some value (None: nothing is known, evaluate the rule
    on every record of its bucket). The parser runs one Aho-Corasick pass over a record's text and
    evaluates only the rules all of whose groups it saw.

    ``derived``: the node may be evaluated on Security 4688 records, whose User and IntegrityLevel
    the engine derives (not in the record's text as such): no groups from those two fields. On any
    other channel (Sysmon's process creation) they are fields of the record like any other.
    ``names``: the fields the node tests, when the caller knows them (a compiled rule's)."""
    avoid = name_text([node]) if names is None else _joined_names(COMMON_NAMES.union(names))
    groups = _groups(node, avoid, INDEX_FIELDS if derived else INDEX_FIELDS - DERIVED_FIELDS)
    if not groups:
        return None
    groups.sort(key=lambda g: (_common(g, avoid), -min(map(len, g)), len(g)))
    if not _common(groups[0], avoid):  # a common group filters nothing, yet costs a match per record
        groups = [g for g in groups if not _common(g, avoid)]
    return groups[:MAX_GROUPS]


# Values nearly every Windows process, file or registry record holds (lower-case, as rules' literals
# are): a literal that is part of one ('\\windows\\', '.exe', 'microsoft corporation') satisfies its
# group on nearly every record. Where a rule offers a choice — which branch of an 'or' stands for
# it, which groups of an 'and' are kept — groups without such literals go first. Only a choice:
# any group a rule's matches must satisfy is a sound pre-filter, this one is just more selective.
COMMON_VALUES = "\x00".join((
    "c:\\windows\\system32\\svchost.exe", "c:\\windows\\syswow64\\", "c:\\program files (x86)\\",
    "c:\\program files\\", "c:\\users\\", "\\appdata\\local\\", "\\appdata\\roaming\\",
    "c:\\programdata\\", "c:\\windows\\microsoft.net\\framework64\\", "microsoft corporation", "microsoft\xae windows\xae operating system",
    "nt authority\\system", "nt authority\\local service", "nt authority\\network service", ".exe", ".dll"))


def _common(group: AbstractSet[str], avoid: str = "") -> bool:
    """Whether a literal of ``group`` is part of a common value or of a field name (``avoid``)."""
    return any(_common_value(lit) or _plain(lit) in avoid for lit in group)


@functools.lru_cache(maxsize=65536)
def _common_value(form: str) -> bool:
    return _plain(form) in COMMON_VALUES


@functools.lru_cache(maxsize=65536)
def _plain(form: str) -> str:
    """A literal without the quotes :func:`_anchored` gave it (as a rule states it)."""
    if not form.startswith(RAW) or '"' not in form:
        return form
    try:
        return str(json.loads('"' + form[len(RAW):].strip('"') + '"'))
    except ValueError:
        return form


# Characters a JSON number, true, false or null is written with: a value ending (starting, equal
# to) such a text may be logged unquoted, so only other literals are anchored to a quote.
_BARE = frozenset("0123456789.-+eE" + "truefalsn")


def _anchored(node: Node, lit: str) -> str:
    """A field test's literal with the JSON quote that bounds the value where the test says the
    literal is: ``Image|endswith: '\\cmd.exe'`` -> ``\\cmd.exe"`` (the end of some value), not
    'cmd.exe' anywhere (a command line that mentions it). startswith gets the opening quote,
    equality both. The quote is JSON's own (RAW: the form is JSON text already). Every value
    the test can hold true for is a JSON string ending (starting, equal to) the literal, or an
    element with text, or a list whose last (first, only) item is: flatten reads those as the
    value. A literal that could be the end of a bare number, true, false or null, or an equality
    with a line break (a list's items joined), keeps its plain form."""
    op = node[2]
    if op not in ("ew", "sw", "eq") or all(c in _BARE for c in lit) or (op == "eq" and "\n" in lit):
        return lit
    quoted = json.dumps(lit, ensure_ascii=False)
    return RAW + (quoted[1:] if op == "ew" else quoted[:-1] if op == "sw" else quoted)


def name_text(trees: Any) -> str:
    """The field names the rules of ``trees`` test (plus :data:`COMMON_NAMES`), each as the engine's
    JSON writes a name, lower-cased (``"commandline":``), joined by NUL (in no literal's JSON form)."""
    names: set[str] = set(COMMON_NAMES)
    for tree in trees:
        fields(tree, names)
    return _joined_names(frozenset(names))


@functools.lru_cache(maxsize=4096)
def _joined_names(names: frozenset[str]) -> str:
    return "\x00".join(f'"{n}":' for n in sorted(names))


def _groups(node: Node, avoid: str = "", index: frozenset[str] = INDEX_FIELDS) -> list[frozenset]:
    kind = node[0]
    if kind in ("f", "kw"):
        if kind == "f" and (node[1] in index or node[1] in WEAK_FIELDS):
            return []
        num = _number_group(node)
        if num is not None:
            return [num]
        lit = _literal(node, avoid)
        if lit is None or not _usable(lit):
            return []
        return [frozenset({_anchored(node, lit) if kind == "f" else lit})]
    if kind == "and":
        out: list[frozenset] = []
        for c in node[1]:
            for g in _groups(c, avoid, index):
                if g not in out:
                    out.append(g)
        return out
    if kind == "or":
        union: set[str] = set()
        for c in node[1]:
            gs = _groups(c, avoid, index)
            if not gs:
                return []
            union |= max(gs, key=lambda g: (not _common(g, avoid), min(map(len, g)), -len(g)))
        return [frozenset(union)]
    if kind == "false":
        return [frozenset({"\x00never\x00"})]
    return []


# Fields whose numbers are always logged in decimal (4624's LogonType): a number test on them can
# pre-filter on the number with its JSON delimiters. Elsewhere a number may be logged as hex text.
DECIMAL_FIELDS = frozenset({"logontype"})
RAW = "\x01"


def _number_group(node: Node) -> frozenset | None:
    if node[0] != "f" or node[2] != "num" or node[1] not in DECIMAL_FIELDS:
        return None
    n = node[3]
    if isinstance(n, bool) or not isinstance(n, int):
        return None
    # RAW marks text already in the engine's JSON form (its quotes are JSON's own, not escaped)
    return frozenset({f"{RAW}:{n},", f"{RAW}:{n}}}", f'{RAW}:"{n}"'})


def _usable(lit: str) -> bool:
    """Long enough to be rare, or short but non-ASCII (the homoglyph/emoji rules' characters), or
    short punctuation with a character command lines seldom hold (the obfuscation rules' ``^^``, a
    backtick, ``${``, ``"{``): a record without it cannot match, and few records hold it."""
    if len(lit) >= MIN_ATOM or (bool(lit) and not lit.isascii()):
        return True
    if len(lit) == 1:  # a lone brace is in every GUID ("{8a3a...}"): only the escapes count alone
        return lit in "^`"
    return any(c in RARE_CHARS for c in lit) and not any(c.isalnum() or c.isspace() for c in lit)


def _literal(node: Node, avoid: str = "") -> str | None:
    op, arg = node[2], node[3]
    if op in ("eq", "sw", "ew", "ct"):
        return arg.lower()
    if op == "glob":
        return arg[1].lower()
    if op == "re":
        return regex_literal(arg[0], arg[1], avoid)
    return None


def regex_literal(pattern: str, flags: int, avoid: str = "") -> str | None:
    """The longest usable run of literal characters every match of ``pattern`` must contain, preferring
    runs that are not part of ``avoid`` (the rule's field names as JSON writes them: 'user' of
    ``net\\s+user`` is in every record that has a User field; 'net' is not). Only the top level of
    the pattern is read, plus the first characters of a repeat that runs at least once (``"{`` of
    ``"(?:\\{\\d\\})+"``); None when it has alternation at the top or no usable run."""
    # Python >= 3.11 (setup.cfg) has the parser here; typeshed has no stub for this private module,
    # and its public alias sre_parse warns (deprecated) on import
    import re._parser as sre_parse  # type: ignore[import-not-found]
    try:
        parsed = sre_parse.parse(pattern, flags)
    except Exception:
        return None
    runs: list[str] = []
    run: list[str] = []
    for op, av in parsed:
        if op is sre_parse.LITERAL:
            run.append(chr(av))
            continue
        if op in (sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT, sre_parse.POSSESSIVE_REPEAT) and av[0] >= 1:
            run.extend(_leading_literals(av[2], sre_parse))  # the first time round follows the run
        runs.append("".join(run))
        run = []
    runs.append("".join(run))
    usable = sorted({r.lower() for r in runs if _usable(r)}, key=len, reverse=True)
    for r in usable:
        if r not in avoid:
            return r
    return usable[0] if usable else None


def _leading_literals(sub: Any, sre_parse: Any) -> list[str]:
    """The literal characters a (sub)pattern always starts with (through plain groups)."""
    out: list[str] = []
    for op, av in sub:
        if op is sre_parse.LITERAL:
            out.append(chr(av))
            continue
        if op is sre_parse.SUBPATTERN and not out:
            out.extend(_leading_literals(av[3], sre_parse))
        break
    return out


def specialize(node: Node, channel: str, event_id: str, provider: str | None = None) -> Node:
    """``node`` for records of one channel, event id and (if given) provider, all lower-case text:
    their tests become constants and the tree is simplified. A bucket evaluates and pre-filters this
    form, so a branch for another event id costs nothing and does not weaken the pre-filter, and a rule
    that only names its provider is not evaluated on every record of another provider's events."""
    kind = node[0]
    value = None
    if kind == "f":
        name = node[1]
        value = channel if name == "channel" else event_id if name == "eventid" else \
            provider if name == "provider_name" else None
    if value is not None:  # a test of channel, event id or (when given) provider: a constant here
        op, arg = node[2], node[3]
        if op == "num":
            ok = value == str(arg)
        elif op == "eq":
            ok = value == arg.lower()
        elif op == "sw":
            ok = value.startswith(arg.lower())
        elif op == "ew":
            ok = value.endswith(arg.lower())
        elif op == "ct":
            ok = arg.lower() in value
        else:
            return node
        return ("true",) if ok else ("false",)
    if kind in ("and", "or"):
        return _joined(kind, [specialize(c, channel, event_id, provider) for c in node[1]])
    if kind == "not":
        return _negated(specialize(node[1], channel, event_id, provider))
    return node


def _joined(kind: str, kids: list[Node]) -> Node:
    """An 'and'/'or' of ``kids`` with its constants folded away."""
    absorbing, neutral = (("false",), ("true",)) if kind == "and" else (("true",), ("false",))
    if absorbing in kids:
        return absorbing
    kept = [k for k in kids if k != neutral]
    if not kept:
        return neutral
    return kept[0] if len(kept) == 1 else (kind, tuple(kept))


def _negated(inner: Node) -> Node:
    """'not inner', a constant when ``inner`` is one."""
    if inner == ("true",):
        return ("false",)
    if inner == ("false",):
        return ("true",)
    return ("not", inner)


def fields(node: Node, out: set[str] | None = None) -> set[str]:
    """Every field a node tests (lower-case), for 'the fields that matched' in findings."""
    out = set() if out is None else out
    kind = node[0]
    if kind == "f":
        out.add(node[1])
        if node[2] == "fref":
            out.add(node[3][0])
    elif kind in ("and", "or"):
        for c in node[1]:
            fields(c, out)
    elif kind == "not":
        fields(node[1], out)
    return out
