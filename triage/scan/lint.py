"""Lint YARA rule sources: required meta and patterns that make scanning slow.

Why hand-parse the source: yara-python compiles rules but exposes neither the rules' strings nor the
atoms yara picks for them, and one string without a good atom (a regex like ``/cmd.*exe/``) can drop
a whole scan from hundreds of MB/s to a crawl. So this module tokenizes the rule text itself (comments,
text strings with escapes, regexes, hex strings, meta values) and checks each string:

- short atom: fewer than 4 bytes of fixed text yara could use to pre-filter (text strings, the
  longest literal run of a regex — the weakest top-level alternative counts —, the longest fixed byte
  run of a hex string);
- unbounded repetition: ``*``, ``+`` or ``{n,}`` applied to ``.``, a character class or a class
  escape (``\\S``, ``\\w``...): the regex engine walks to the end of the data from every atom hit;
- ``nocase`` on a short string (many case variants of a short atom);
- hex strings starting with a wildcard or a jump, and unbounded jumps ``[n-]``;
- in the condition, a loop over every match of a string (``for any i in (1..#a)``) whose body counts
  or places another string in a range (``#b in (@a[i] - 100 .. @a[i] + 100)``): its cost is the
  product of the two match counts, which a hostile file can drive to the scan timeout (losing every
  other hit of that file); bound it (``1..math.min(#a, 100)``).

Meta: every rule needs ``description``, ``severity`` (critical|high|medium|low|info), ``attack``
(ATT&CK ids like T1059.001, comma-separated), ``reference`` and ``date`` (YYYY-MM-DD). A missing or
invalid meta value is an error; a slow pattern is a warning. The checks are conservative
approximations of yara's atom choice, written to be predictable; they are not a yara compiler.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from triage.model import SEVERITIES

REQUIRED_META = ("description", "severity", "attack", "reference", "date")
MIN_ATOM = 4
NOCASE_MIN = 6
_ATTACK = re.compile(r"^T\d{4}(?:\.\d{3})?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STRING_MODIFIERS = {"nocase", "wide", "ascii", "fullword", "private", "xor", "base64", "base64wide"}


@dataclass(frozen=True, slots=True)
class LintMessage:
    """One finding of the linter. severity: 'error' | 'warning'."""

    severity: str
    code: str
    message: str
    file: str
    line: int
    rule: str | None = None
    string: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        what = f" rule {self.rule}" if self.rule else ""
        what += f" {self.string}" if self.string else ""
        return f"{where}:{what} {self.severity} [{self.code}] {self.message}"


@dataclass(slots=True)
class Token:
    kind: str   # 'ident', 'var', 'text', 'regex', 'hex', 'number', 'punct'
    value: str
    line: int
    extra: str = ""  # regex flags


@dataclass(slots=True)
class StringDef:
    identifier: str
    kind: str          # 'text' | 'regex' | 'hex'
    value: str         # raw source between delimiters
    modifiers: list[str]
    line: int
    flags: str = ""


@dataclass(slots=True)
class RuleDef:
    name: str
    line: int
    tags: list[str] = field(default_factory=list)
    meta: dict[str, object] = field(default_factory=dict)
    strings: list[StringDef] = field(default_factory=list)
    private: bool = False
    condition: list[Token] = field(default_factory=list)


class LintSyntaxError(ValueError):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line


# ---------------------------------------------------------------- tokenizer

def tokenize(text: str) -> list[Token]:
    """Tokens of a rule file. A '/' right after '=' or 'matches' starts a regex, a '{' right after '='
    a hex string."""
    tokens: list[Token] = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            if j < 0:
                raise LintSyntaxError("unterminated comment", line)
            line += text.count("\n", i, j)
            i = j + 2
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                if text[j] == "\\":
                    j += 1
                if j < n and text[j] == "\n":
                    raise LintSyntaxError("newline in string", line)
                j += 1
            if j >= n:
                raise LintSyntaxError("unterminated string", line)
            tokens.append(Token("text", text[i + 1:j], line))
            i = j + 1
        elif c == "/" and tokens and tokens[-1].value in ("=", "matches"):
            j, in_class = i + 1, False
            while j < n and (text[j] != "/" or in_class):
                if text[j] == "\\":
                    j += 1
                elif text[j] == "[":
                    in_class = True
                elif text[j] == "]":
                    in_class = False
                elif text[j] == "\n":
                    raise LintSyntaxError("newline in regex", line)
                j += 1
            if j >= n:
                raise LintSyntaxError("unterminated regex", line)
            k = j + 1
            while k < n and text[k] in "is":
                k += 1
            tokens.append(Token("regex", text[i + 1:j], line, text[j + 1:k]))
            i = k
        elif c == "{" and tokens and tokens[-1].value == "=":
            j = i + 1
            while j < n and text[j] != "}":
                if text.startswith("//", j):
                    k = text.find("\n", j)
                    j = n if k < 0 else k
                    continue
                j += 1
            if j >= n:
                raise LintSyntaxError("unterminated hex string", line)
            body = text[i + 1:j]
            tokens.append(Token("hex", body, line))
            line += body.count("\n")
            i = j + 1
        elif c == "$" or c.isalpha() or c == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_*"):
                j += 1
            tokens.append(Token("var" if c == "$" else "ident", text[i:j], line))
            i = j
        elif c.isdigit():
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "x."):
                j += 1
            tokens.append(Token("number", text[i:j], line))
            i = j
        elif c in "#@!":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] in "_*"):
                j += 1
            tokens.append(Token("var", text[i:j], line))
            i = j
        else:
            tokens.append(Token("punct", c, line))
            i += 1
    return tokens


def parse_rules(text: str) -> list[RuleDef]:
    """Rule headers, meta, string definitions and the condition's tokens."""
    toks = tokenize(text)
    rules: list[RuleDef] = []
    i, n = 0, len(toks)
    while i < n:
        t = toks[i]
        if t.kind == "ident" and t.value == "rule":
            private = any(toks[k].value == "private" for k in range(max(0, i - 2), i))
            if i + 1 >= n or toks[i + 1].kind != "ident":
                raise LintSyntaxError("rule without a name", t.line)
            rule = RuleDef(name=toks[i + 1].value, line=t.line, private=private)
            i += 2
            if i < n and toks[i].value == ":":
                i += 1
                while i < n and toks[i].kind == "ident":
                    rule.tags.append(toks[i].value)
                    i += 1
            if i >= n or toks[i].value != "{":
                raise LintSyntaxError(f"rule {rule.name}: expected '{{'", t.line)
            i = _parse_body(toks, i + 1, rule)
            rules.append(rule)
        else:
            i += 1
    return rules


def _parse_body(toks: list[Token], i: int, rule: RuleDef) -> int:
    section = None
    n = len(toks)
    while i < n:
        t = toks[i]
        if t.value == "}" and section != "strings_value":
            return i + 1
        if t.kind == "ident" and i + 1 < n and toks[i + 1].value == ":" and t.value in (
                "meta", "strings", "condition"):
            section = t.value
            i += 2
            continue
        if section == "meta" and t.kind == "ident" and i + 2 < n and toks[i + 1].value == "=":
            v = toks[i + 2]
            if v.value == "-" and i + 3 < n:
                rule.meta[t.value] = -int(toks[i + 3].value, 0)
                i += 4
                continue
            if v.kind == "text":
                rule.meta[t.value] = v.value
            elif v.kind == "number":
                rule.meta[t.value] = int(v.value, 0) if v.value.isdigit() or v.value.startswith("0x") else v.value
            else:
                rule.meta[t.value] = {"true": True, "false": False}.get(v.value, v.value)
            i += 3
            continue
        if section == "strings" and t.kind == "var" and i + 2 < n and toks[i + 1].value == "=":
            v = toks[i + 2]
            if v.kind not in ("text", "regex", "hex"):
                raise LintSyntaxError(f"string {t.value}: unexpected {v.value!r}", v.line)
            sd = StringDef(identifier=t.value, kind=v.kind, value=v.value, modifiers=[], line=t.line,
                           flags=v.extra)
            i += 3
            while i < n and toks[i].kind == "ident" and toks[i].value in _STRING_MODIFIERS:
                sd.modifiers.append(toks[i].value)
                i += 1
                if i < n and toks[i].value == "(":  # xor(1-255), base64("alphabet")
                    depth = 0
                    while i < n:
                        depth += {"(": 1, ")": -1}.get(toks[i].value, 0)
                        i += 1
                        if depth == 0:
                            break
            rule.strings.append(sd)
            continue
        if section == "condition":
            rule.condition.append(t)
        i += 1
    raise LintSyntaxError(f"rule {rule.name}: missing '}}'", rule.line)


# ---------------------------------------------------------------- string analysis

def text_bytes(raw: str) -> bytes:
    """Bytes of a YARA text string (escapes \\n \\t \\r \\\\ \\" \\xHH)."""
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw):
            e = raw[i + 1]
            if e == "x" and i + 4 <= len(raw):
                out.append(int(raw[i + 2:i + 4], 16))
                i += 4
                continue
            out += {"n": b"\n", "t": b"\t", "r": b"\r", "\\": b"\\", '"': b'"'}.get(e, e.encode())
            i += 2
            continue
        out += c.encode("utf-8")
        i += 1
    return bytes(out)


_CLASS_ESCAPES = set("wWsSdDbB")


@dataclass(slots=True)
class RegexReport:
    best_literal: int          # weakest top-level alternative's longest literal run
    unbounded: list[str]       # the offending pieces, e.g. '.*', '[^"]+', '\\S{2,}'


def analyze_regex(src: str) -> RegexReport:
    """Literal runs and unbounded repetitions of a YARA regex (its source between the slashes)."""
    items = _regex_items(src)
    # split at top-level alternation
    branches: list[list[tuple[str, str, int]]] = [[]]
    for it in items:
        if it[0] == "alt" and it[2] == 0:
            branches.append([])
        else:
            branches[-1].append(it)
    unbounded: list[str] = []
    best_per_branch = []
    for br in branches:
        best = run = 0
        for idx, (kind, text, depth) in enumerate(br):
            quant = br[idx + 1] if idx + 1 < len(br) and br[idx + 1][0] == "quant" else None
            if kind == "quant":
                continue
            if quant is not None:
                q = quant[1]
                if kind in ("any", "class", "escape_class") and _is_unbounded(q):
                    unbounded.append(text + q)
                if kind == "lit" and depth == 0 and not q.startswith(("?", "*", "{0")):
                    run += 1  # one mandatory copy of the char, then the run ends
                best = max(best, run)
                run = 0
                continue
            if kind == "lit" and depth == 0:
                run += 1
                best = max(best, run)
            else:
                run = 0
        best_per_branch.append(best)
    return RegexReport(best_literal=min(best_per_branch) if best_per_branch else 0, unbounded=unbounded)


def _is_unbounded(q: str) -> bool:
    q = q.rstrip("?")
    return q in ("*", "+") or bool(re.fullmatch(r"\{\d*,\}", q))


def _regex_items(src: str) -> list[tuple[str, str, int]]:
    """(kind, text, group depth): kinds lit, any, class, escape_class, anchor, open, close, alt, quant."""
    items: list[tuple[str, str, int]] = []
    i, depth = 0, 0
    while i < len(src):
        c = src[i]
        if c == "\\" and i + 1 < len(src):
            e = src[i + 1]
            if e in _CLASS_ESCAPES:
                items.append(("escape_class" if e not in "bB" else "anchor", src[i:i + 2], depth))
                i += 2
            elif e == "x":
                items.append(("lit", src[i:i + 4], depth))
                i += 4
            else:
                items.append(("lit", src[i:i + 2], depth))
                i += 2
        elif c == "[":
            j = i + 1
            if j < len(src) and src[j] == "^":
                j += 1
            if j < len(src) and src[j] == "]":
                j += 1
            while j < len(src) and src[j] != "]":
                j += 2 if src[j] == "\\" else 1
            items.append(("class", src[i:j + 1], depth))
            i = j + 1
        elif c == "(":
            depth += 1
            items.append(("open", c, depth))
            i += 3 if src.startswith("(?:", i) else 1
        elif c == ")":
            items.append(("close", c, depth))
            depth = max(0, depth - 1)
            i += 1
        elif c == "|":
            items.append(("alt", c, depth))
            i += 1
        elif c in "*+?":
            j = i + 1
            if j < len(src) and src[j] == "?":
                j += 1
            _attach_quant(items, src[i:j], depth)
            i = j
        elif c == "{" and (m := re.match(r"\{\d*,?\d*\}\??", src[i:])):
            _attach_quant(items, m.group(0), depth)
            i += len(m.group(0))
        elif c == ".":
            items.append(("any", c, depth))
            i += 1
        elif c in "^$":
            items.append(("anchor", c, depth))
            i += 1
        else:
            items.append(("lit", c, depth))
            i += 1
    return items


def _attach_quant(items: list[tuple[str, str, int]], q: str, depth: int) -> None:
    """A quantifier after ')' applies to the whole group: mark it as a 'group' piece."""
    if items and items[-1][0] == "close":
        # find the group's text for the message; the group itself is not a literal run
        items.append(("quant", q, depth))
        k = len(items) - 2
        items[k] = ("group", ")", items[k][2])
        return
    items.append(("quant", q, depth))


def analyze_hex(src: str) -> tuple[int, bool, bool]:
    """(longest fixed byte run, starts with a wildcard/jump, has an unbounded jump)."""
    body = re.sub(r"//[^\n]*", "", src)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    toks = re.findall(r"\[[^\]]*\]|[0-9A-Fa-f?~]{2}|[()|]|~[0-9A-Fa-f?]{2}", body.replace("~", " ~"))
    best = run = 0
    starts_wild = False
    unbounded = False
    first = True
    for t in toks:
        fixed = bool(re.fullmatch(r"[0-9A-Fa-f]{2}", t))
        if first:
            starts_wild = not fixed and t not in "("
            first = t == "("
        if t.startswith("[") and re.fullmatch(r"\[\s*\d*\s*-\s*\]", t):
            unbounded = True
        if fixed:
            run += 1
            best = max(best, run)
        else:
            run = 0
    return best, starts_wild, unbounded


# ---------------------------------------------------------------- checks

def quadratic_loops(condition: list[Token]) -> list[tuple[str, int]]:
    """(string count, line) of each ``for ... in (1..#a) : (...)`` loop bounded only by a match count
    whose body holds a range test of a string (``#b in (...)``, ``$b in (...)``)."""
    out = []
    n = len(condition)
    for k in range(n - 3):
        start, count, close = condition[k + 1], condition[k + 2], condition[k + 3]
        if not (condition[k].value == "(" and start.kind == "number" and start.value.endswith("..")
                and count.kind == "var" and count.value.startswith("#") and close.value == ")"):
            continue
        j = k + 4
        if j + 1 >= n or condition[j].value != ":" or condition[j + 1].value != "(":
            continue
        depth, j = 0, j + 1
        body: list[Token] = []
        while j < n:
            depth += {"(": 1, ")": -1}.get(condition[j].value, 0)
            body.append(condition[j])
            j += 1
            if depth == 0:
                break
        pairs = zip(body, body[1:], strict=False)
        if any(a.kind == "var" and a.value[:1] in "#$" and b.value == "in" for a, b in pairs):
            out.append((count.value, count.line))
    return out


def lint_rule(rule: RuleDef, file: str) -> list[LintMessage]:
    out: list[LintMessage] = []

    def msg(sev: str, code: str, text: str, line: int | None = None, string: str | None = None) -> None:
        out.append(LintMessage(sev, code, text, file, line or rule.line, rule.name, string))

    for key in REQUIRED_META:
        value = rule.meta.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            msg("error", "meta-missing", f"missing meta '{key}'")
    sev = rule.meta.get("severity")
    if isinstance(sev, str) and sev.strip() and sev not in SEVERITIES:
        msg("error", "meta-severity", f"severity {sev!r} is not one of {', '.join(SEVERITIES)}")
    attack = rule.meta.get("attack")
    if isinstance(attack, str) and attack.strip():
        bad = [a for a in (p.strip() for p in attack.split(",")) if not _ATTACK.match(a)]
        if bad:
            msg("error", "meta-attack", f"attack {', '.join(bad)!r} is not an ATT&CK id like T1059.001")
    date = rule.meta.get("date")
    if isinstance(date, str) and date.strip() and not _DATE.match(date):
        msg("error", "meta-date", f"date {date!r} is not YYYY-MM-DD")

    for s in rule.strings:
        if s.kind == "text":
            data = text_bytes(s.value)
            if "base64" in s.modifiers or "base64wide" in s.modifiers:
                size = len(data) * 4 // 3 - 2  # yara's atoms come from the encoded forms
            else:
                size = len(data)
            if size < MIN_ATOM:
                msg("warning", "short-atom", f"only {size} bytes of fixed text (need {MIN_ATOM})",
                    s.line, s.identifier)
            elif "nocase" in s.modifiers and size < NOCASE_MIN:
                msg("warning", "nocase-short", f"nocase on a {size}-byte string (need {NOCASE_MIN})",
                    s.line, s.identifier)
        elif s.kind == "regex":
            rep = analyze_regex(s.value)
            if rep.best_literal < MIN_ATOM:
                msg("warning", "short-atom",
                    f"regex has at most {rep.best_literal} literal bytes in a row (need {MIN_ATOM})",
                    s.line, s.identifier)
            for piece in rep.unbounded:
                msg("warning", "unbounded-regex", f"unbounded repetition '{piece}': bound it, e.g. {{0,200}}",
                    s.line, s.identifier)
        else:
            best, starts_wild, unbounded = analyze_hex(s.value)
            if best < MIN_ATOM:
                msg("warning", "short-atom", f"hex string has at most {best} fixed bytes in a row "
                    f"(need {MIN_ATOM})", s.line, s.identifier)
            if starts_wild:
                msg("warning", "hex-leading-wildcard", "hex string starts with a wildcard or jump",
                    s.line, s.identifier)
            if unbounded:
                msg("warning", "unbounded-jump", "unbounded jump [n-]: bound it", s.line, s.identifier)
    for count, line in quadratic_loops(rule.condition):
        msg("warning", "unbounded-loop", f"loop over every match ({count}) with a range test inside: cost "
            f"is the product of match counts; bound it, e.g. 1..math.min({count}, 100)", line)
    return out


def lint_text(text: str, file: str = "<rules>") -> list[LintMessage]:
    try:
        rules = parse_rules(text)
    except LintSyntaxError as exc:
        return [LintMessage("error", "syntax", str(exc), file, exc.line)]
    out: list[LintMessage] = []
    for r in rules:
        out.extend(lint_rule(r, file))
    return out


def lint_file(path: str | Path) -> list[LintMessage]:
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8", "surrogateescape")
    except OSError as exc:
        return [LintMessage("error", "read", str(exc), str(path), 0)]
    return lint_text(text, str(path))
