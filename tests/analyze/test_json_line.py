"""The timeline's one-encoder JSON lines are byte for byte what json.JSONEncoder gives."""

from __future__ import annotations

import json

import pytest

from triage.analyze.json_line import encode


def test_lines_equal_the_stdlib_encoder():
    plain = json.JSONEncoder(ensure_ascii=False)
    rows = [
        {"datetime": "2024-05-01T13:04:05.000000Z", "timestamp": -11644473600000000, "user": None,
         "message": 'naïve "quoted" \\ back\x00nul\u202e\u2028 line\nbreak \U0001F600', "n": 1.5,
         "nan": float("nan"), "inf": float("-inf"), "flag": True, "nested": {"a": [1, "x", None]}},
        {}, {"": ""}, {"k": "</script>"},
    ]
    assert [encode(r) for r in rows] == [plain.encode(r) for r in rows]
    assert [encode(r) for r in rows] == [plain.encode(r) for r in rows]  # the encoder is reused


def test_unencodable_value_is_a_type_error_as_before():
    with pytest.raises(TypeError):
        encode({"when": object()})
    assert encode({"ok": 1}) == '{"ok": 1}'  # a failed row leaves the encoder usable
