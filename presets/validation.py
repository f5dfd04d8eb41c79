"""What a preset may hold: the bounds every way of writing one (REST, admin, migration) is checked against.

The model fields carry these validators, so ``full_clean`` (services, admin forms) refuses the same things the REST
API does, naming the field.
"""

import re

from django.conf import settings
from django.core.exceptions import ValidationError

from core import structured
from core.errors import ServiceError

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9-]{1,63}$")  # starts with a letter: a reference of digits is an id
MAX_SYSTEM_PROMPT_CHARS = 20_000
TEMPERATURE_RANGE = (0.0, 2.0)
TOP_P_RANGE = (0.0, 1.0)
MAX_TOKENS_RANGE = (1, 32_768)
MAX_STARTER_PROMPTS = 6
MAX_STARTER_PROMPT_CHARS = 200
MAX_DOCUMENTS = 50


def validate_slug(value: str) -> None:
    if not SLUG_PATTERN.match(value or ""):
        raise ValidationError(
            "2-64 lowercase letters, digits or '-', starting with a letter (it becomes the model name preset/<slug>)."
        )


def configured_model_names() -> list[str]:
    return [entry["name"] for entry in settings.LLM_MODELS]


def validate_base_model(value: str) -> None:
    if value and value not in configured_model_names():
        raise ValidationError(f"Unknown model {value!r}. Available: {', '.join(configured_model_names())}.")


def validate_no_nul(value: str) -> None:
    if "\x00" in (value or ""):
        raise ValidationError("The text contains a NUL character.")


def output_format(value: object) -> dict | None:
    """OpenAI's response_format, checked by the structured-outputs rules; None for text."""
    try:
        parsed = structured.parse_response_format(value, "output_format")
    except ServiceError as exc:
        raise ValidationError(exc.message) from None
    return parsed.backend_field() if parsed is not None else None


def validate_output_format(value: object) -> None:
    output_format(value)


def validate_starter_prompts(value: object) -> None:
    if not isinstance(value, list) or len(value) > MAX_STARTER_PROMPTS:
        raise ValidationError(f"A list of at most {MAX_STARTER_PROMPTS} short prompts.")
    for prompt in value:
        if not isinstance(prompt, str) or not prompt.strip() or len(prompt) > MAX_STARTER_PROMPT_CHARS:
            raise ValidationError(f"Each starter prompt is a non-empty text of at most {MAX_STARTER_PROMPT_CHARS}.")
        validate_no_nul(prompt)
