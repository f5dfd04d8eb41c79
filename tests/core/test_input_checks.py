"""The shared input checks: each refusal names the field that holds the problem."""

import json

import pytest

from core.input_checks import (
    MAX_DEPTH,
    WALK_BUDGET,
    InvalidInput,
    check_query_string,
    check_value,
    decode_utf8,
    parse_json,
)


def refusal(check, *args, **kwargs) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        check(*args, **kwargs)
    return caught.value


def nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


def test_it_accepts_ordinary_json_with_unicode_and_surrogate_pairs():
    body = json.dumps({"messages": [{"role": "user", "content": "café 😀 \\u0000 as text"}], "n": 1}).encode()
    assert parse_json(body)["messages"][0]["content"] == "café 😀 \\u0000 as text"
    assert parse_json(b'"\\ud83d\\ude00"') == "😀"  # an escaped pair is one character, not two surrogates


def test_it_accepts_nesting_up_to_the_bound():
    check_value(nested(MAX_DEPTH))
    assert parse_json(json.dumps(nested(MAX_DEPTH))) == nested(MAX_DEPTH)


def test_it_rejects_nesting_beyond_the_bound_naming_the_path():
    error = refusal(check_value, {"messages": [nested(MAX_DEPTH)]})
    assert error.code == "too_deep"
    assert error.status == 400
    assert error.field == "messages[0]" + ".a" * (MAX_DEPTH - 2)
    assert f"{MAX_DEPTH} levels" in error.message


def test_it_rejects_nesting_that_would_exhaust_the_decoders_stack():
    for text in ("[" * 200_000, '{"a":' * 100_000 + "1" + "}" * 100_000):
        error = refusal(parse_json, text)
        assert error.code == "too_deep"


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        (b'{"messages": [{"content": "a\\u0000b"}]}', "nul_character", "messages[0].content"),
        (b'{"messages": [{"content": "ok"}, {"content": "\\ud800"}]}', "lone_surrogate", "messages[1].content"),
        (b'{"stop": ["fine", "\\udfff tail"]}', "lone_surrogate", "stop[1]"),
        (b'{"meta": {"na\\u0000me": 1}}', "nul_character", "meta.na\\u0000me"),
        (b'{"\\ud800": 1}', "lone_surrogate", "\\ud800"),
    ],
)
def test_it_rejects_nul_and_lone_surrogates_in_strings_and_keys(body, code, field):
    error = refusal(parse_json, body)
    assert (error.code, error.field) == (code, field)
    assert field in error.message


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"text": "a backslash then u0000: \\u0000, and \\\\"}),  # escaped backslashes, not NUL
        json.dumps({"text": "brackets in strings [[[[{{{{" * 20, 'quote\\"[': "]]]"}),
        json.dumps({"emoji": "😀" * 100}),  # surrogate pairs, escaped by json.dumps
        json.dumps([{"role": "user", "content": str(i)} for i in range(100)]),  # many containers, none deep
    ],
)
def test_its_fast_screen_lets_tricky_clean_bodies_through(text):
    assert parse_json(text.encode()) == json.loads(text)


def test_it_counts_braces_and_brackets_alike_for_depth():
    value: object = 1
    for level in range(MAX_DEPTH + 1):
        value = {"k": value} if level % 2 else [value]
    error = refusal(parse_json, json.dumps(value).encode())
    assert error.code == "too_deep"
    assert error.field is not None


def test_past_its_walk_budget_it_still_refuses_without_naming_the_field():
    body = json.dumps([0] * (WALK_BUDGET + 10) + ["\x00"]).encode()
    error = refusal(parse_json, body)
    assert (error.code, error.field) == ("nul_character", None)


def test_it_caps_the_length_of_a_field_name_it_echoes():
    error = refusal(parse_json, json.dumps({"k" * 100_000: "\x00"}))
    assert error.field == "k" * 80 + "…"
    assert len(error.message) < 200


def test_it_reports_the_first_problem_in_document_order():
    error = refusal(parse_json, b'{"a": "x\\u0000", "b": "\\ud800"}')
    assert (error.code, error.field) == ("nul_character", "a")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"\xff{}", "invalid_utf8"),
        (b'{"content": "caf\xe9"}', "invalid_utf8"),  # Latin-1, not UTF-8
        (b'{"content": "\xed\xa0\x80"}', "lone_surrogate"),  # a surrogate written as CESU-8
        (b'{"content": ', "invalid_json"),
        (b"[NaN]", "invalid_json"),
        (b'{"temperature": Infinity}', "invalid_json"),
        (b"1" * 5000, "invalid_json"),  # longer than Python converts to int
    ],
)
def test_it_rejects_bodies_that_are_not_utf8_json(body, code):
    error = refusal(parse_json, body)
    assert error.code == code
    assert error.message.startswith("The body")


def test_decode_utf8_names_the_offending_byte():
    error = refusal(decode_utf8, b"abc\x80", field="title")
    assert (error.code, error.field) == ("invalid_utf8", "title")
    assert "byte 3" in error.message


@pytest.mark.parametrize(
    ("query", "code", "field"),
    [
        ("search=%00", "nul_character", "search"),
        ("q=ok&search=a%00b", "nul_character", "search"),
        ("q=%ff", "invalid_utf8", "q"),
        ("q=%C3", "invalid_utf8", "q"),  # a truncated two-byte sequence
        ("q=%ED%A0%80", "lone_surrogate", "q"),
        ("na%00me=1", "nul_character", "na\\u0000me"),
        ("%ff=1", "invalid_utf8", "\\xff"),
        (b"q=\xff", "invalid_utf8", "q"),  # a raw byte, as an ASGI server passes it
        ("q=\ud800", "lone_surrogate", "q"),
    ],
)
def test_it_rejects_query_strings_naming_the_parameter(query, code, field):
    error = refusal(check_query_string, query)
    assert (error.code, error.field) == (code, field)


def test_it_accepts_ordinary_query_strings():
    check_query_string("q=caf%C3%A9+au+lait&limit=10&&flag&empty=&emoji=%F0%9F%98%80")
    check_query_string("")
