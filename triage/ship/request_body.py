"""Request bodies the intake server parses: small JSON objects, nesting bounded before parsing, and
the error a handler raises to answer with a JSON status."""

from __future__ import annotations

import json

MAX_JSON_DEPTH = 16             # an upload request is one object deep; deeper nesting is refused before parsing


class HTTPProblem(Exception):
    """Raised inside handlers: becomes a JSON error response with this status."""

    def __init__(self, status: int, message: str, **details) -> None:
        super().__init__(message)
        self.status, self.message, self.details = status, message, details


def parse_small_json(raw: bytes) -> dict:
    """An upload request's JSON object; 400 for anything else, including nesting deeper than
    MAX_JSON_DEPTH (checked on the text before parsing: the parser recurses, and a deep enough
    document would raise RecursionError, a 500)."""
    depth = deepest = 0
    in_string = escaped = False
    for c in raw:
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:
                escaped = True
            elif c == 0x22:
                in_string = False
        elif c == 0x22:
            in_string = True
        elif c in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
            if deepest > MAX_JSON_DEPTH:
                raise HTTPProblem(400, f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        elif c in (0x5D, 0x7D):
            depth -= 1
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise HTTPProblem(400, "body must be JSON {name, size, sha256, chunk_size}") from None
    if not isinstance(body, dict):
        raise HTTPProblem(400, "body must be a JSON object")
    return body
