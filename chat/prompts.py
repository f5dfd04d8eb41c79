"""Prompts are data: every instruction we give the model lives here."""

from django.conf import settings

DEFAULT_SYSTEM_PROMPT = (
    "You are a helpful, accurate assistant. Answer clearly and concisely. "
    "If you do not know something, say so instead of guessing."
)

TITLE_INSTRUCTION = (
    "Write a short title (at most six words) for the conversation below. "
    "Reply with the title only, without quotes or punctuation at the end."
)
TITLE_MAX_TOKENS = 16


def system_prompt() -> str:
    return settings.CHAT_SYSTEM_PROMPT or DEFAULT_SYSTEM_PROMPT


def title_request(first_question: str, first_answer: str) -> list[dict]:
    excerpt = f"User: {first_question[:1000]}\nAssistant: {first_answer[:1000]}"
    return [{"role": "system", "content": TITLE_INSTRUCTION}, {"role": "user", "content": excerpt}]


def clean_title(raw: str) -> str:
    title = raw.strip().splitlines()[0] if raw.strip() else ""
    title = title.strip().strip("\"'“”*#").strip()
    title = title.removeprefix("Title:").strip().rstrip(".")
    # Small models ignore "at most six words"; a sidebar title must still fit.
    words = title.split()
    return " ".join(words[:8])[:80]
