"""A preset's system prompt is filled in by plain substitution: known variables only, nothing evaluated."""

import datetime

from presets.templating import render, values_for

VALUES = {"user_name": "Ada Lovelace", "today": "2026-12-02", "weekday": "Wednesday", "preset_name": "Helper"}


def test_it_fills_in_the_documented_variables():
    assert render("Hi {user_name}, today is {weekday} {today}.", VALUES) == (
        "Hi Ada Lovelace, today is Wednesday 2026-12-02."
    )


def test_it_leaves_unknown_braces_and_json_alone():
    template = 'Answer as {"answer": "..."} for {unknown} and {user_name.__class__} and {{today}} and {0}.'
    assert render(template, VALUES) == (
        'Answer as {"answer": "..."} for {unknown} and {user_name.__class__} and {2026-12-02} and {0}.'
    )


def test_a_value_is_never_expanded_again():
    assert render("{user_name}", VALUES | {"user_name": "{today}"}) == "{today}"


def test_the_values_come_from_the_user_and_the_day():
    class Person:
        username = "ada"

        def get_full_name(self) -> str:
            return ""

    values = values_for(user=Person(), preset_name="Helper", today=datetime.date(2026, 12, 2))
    assert values["user_name"] == "ada", "no full name: the username"
    assert values["weekday"] == "Wednesday"
    assert values["today"] == "2026-12-02"
