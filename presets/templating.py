"""A preset's system prompt is a template with a few variables, filled in by plain substitution.

``{user_name}`` and friends are replaced in one pass; nothing is ever evaluated (no ``str.format``, whose attribute
and index lookups a template could abuse), and any other brace — JSON in an example, ``{unknown}`` — stays as it is.
A value that itself holds ``{today}`` is not expanded again.
"""

import datetime
import re

from django.utils import timezone

from accounts.models import User

VARIABLES = {
    "user_name": "the user's full name, or their username when they have none",
    "username": "the user's username",
    "today": "today's date, e.g. 2026-12-02",
    "weekday": "today's day of the week, e.g. Wednesday",
    "preset_name": "the preset's name",
}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def values_for(*, user: User, preset_name: str, today: datetime.date | None = None) -> dict[str, str]:
    today = today or timezone.localdate()
    return {
        "user_name": user.get_full_name().strip() or user.username,
        "username": user.username,
        "today": today.isoformat(),
        "weekday": today.strftime("%A"),
        "preset_name": preset_name,
    }


def render(template: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda match: values.get(match[1], match[0]), template)
