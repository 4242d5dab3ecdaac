"""Strict JSON reading (keys.strictjson): what Python's json takes and RFC 8259 has not, or
what two parsers would read two ways, is refused with one error naming the input."""

from __future__ import annotations

import json

import pytest

from keys.errors import InvalidInput
from keys.strictjson import MAX_INT_DIGITS, MalformedJson, loads_strict


def test_strict_json_reads_as_json_does() -> None:
    text = '{"a": [1, -2, 3.5, "\\u4e2d", true, null], "b": {}}'
    assert loads_strict(text.encode(), what="it", max_bytes=100) == json.loads(text)
    assert loads_strict(text, what="it", max_bytes=100) == json.loads(text)
    assert loads_strict(b"9" * MAX_INT_DIGITS, what="it", max_bytes=100) == int("9" * 64)
    # A surrogate pair escaped is one character; an escaped backslash before "ud800" none.
    pair = b'{"\\ud83d\\ude00": ["\\uD83D\\uDE00", "\\\\ud800"]}'
    assert loads_strict(pair, what="it", max_bytes=100) == {"\U0001f600": ["\U0001f600", "\\ud800"]}


@pytest.mark.parametrize(
    ("data", "refusal"),
    [
        (b'{"a": 1, "a": 2}', "the body is not JSON (duplicate key 'a')"),
        (b'[{"a": {"b": 1, "b": 1}}]', "the body is not JSON (duplicate key 'b')"),
        (b"[NaN]", "the body is not JSON (NaN is not a JSON number)"),
        (b"-Infinity", "the body is not JSON (-Infinity is not a JSON number)"),
        (b"[1e999]", "the body is not JSON (the number 1e999 is too large)"),
        (b"9" * 65, "the body is not JSON (a number of 65 digits, more than 64)"),
        (b"-" + b"9" * 5000, "the body is not JSON (a number of 5,000 digits, more than 64)"),
        (b"[" * 100_000, "the body is not JSON (nested too deeply)"),
        ('{"a": 1}'.encode("utf-16"), "the body is not UTF-8 (byte 0)"),
        (b"\xef\xbb\xbf{}", "the body begins with a byte order mark, which JSON has not"),
        (b"{a: 1}", "the body is not JSON (Expecting property name enclosed in double quotes"),
        (b"{} {}", "the body is not JSON (Extra data at line 1 column 4)"),
        # Half a surrogate pair: Python reads a str no UTF-8 can hold, another parser U+FFFD.
        (b'["\\ud800"]', "the body is not JSON (it holds \\ud800, half a UTF-16 surrogate pair"),
        (b'{"a": {"\\uDFFFb": 1}}', "the body is not JSON (it holds \\udfff, half a UTF-16"),
        (b'"\\ude00\\ud83d"', "the body is not JSON (it holds \\ude00, half a UTF-16"),
        (b"", "the body is not JSON (Expecting value at line 1 column 1)"),
        # json's own message ends in "at" here: said once.
        (b'{"a": "b', "the body is not JSON (Unterminated string starting at line 1 column 7)"),
    ],
)
def test_what_json_takes_and_rfc_8259_has_not_is_refused(data: bytes, refusal: str) -> None:
    with pytest.raises(MalformedJson) as info:
        loads_strict(data, what="the body", max_bytes=1_000_000)
    assert info.value.message.startswith(refusal)
    assert "sys." not in info.value.message  # no advice for Python programmers
    assert isinstance(info.value, InvalidInput)


def test_input_over_its_bound_is_refused_before_it_is_read() -> None:
    assert loads_strict(b"[" + b" " * 8 + b"]", what="it", max_bytes=10) == []
    for data in (b"[" + b" " * 9 + b"]", "[" + "中" * 3 + "]"):  # 11 bytes, 11 in UTF-8
        with pytest.raises(MalformedJson, match=r"^the file is larger than 10 bytes$"):
            loads_strict(data, what="the file", max_bytes=10)
