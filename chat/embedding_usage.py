"""What an embeddings request costs, and how it is recorded: the same daily quota and usage ledger as chat.

The cost is the tokens the model reads, counted with the embedding model's own tokenizer (the one chunking uses)
before the call, so the quota hold is exact and the settle only moves it from held to used. For the embedded
all-MiniLM-L6-v2 that is each input's word pieces with its two special tokens, at most the model's window: the
service truncates longer inputs, and what it never reads is not charged. These are the counts the embedding service
reports itself. For another service (``EMBEDDINGS_BASE_URL``) the same tokenizer gives an estimate of its own counts.
"""

import functools
import json

from django.conf import settings
from django.db import connection
from django.utils import timezone

from chat.quotas import Hold
from documents.embedding_model import model_directory
from documents.embeddings import load_tokenizer


@functools.cache
def model_window() -> int:
    """The embedded model's input window in tokens, special tokens included (256 for all-MiniLM-L6-v2), as the
    service's sentence-transformers reads it from the packaged model."""
    config = json.loads((model_directory() / "sentence_bert_config.json").read_text())
    return int(config["max_seq_length"])


def token_counts(texts: list[str]) -> list[int]:
    counts = [len(item.ids) for item in load_tokenizer().encode_batch(texts, add_special_tokens=True)]
    if not settings.EMBEDDED_EMBEDDINGS:
        return counts  # another service's window is its own (OpenAI refuses inputs over it)
    window = model_window()
    return [min(count, window) for count in counts]


def input_tokens(texts: list[str]) -> int:
    return sum(token_counts(texts))


def settle(hold: Hold, *, model: str) -> None:
    """The hold becomes tokens used, and the ledger gets the request: one statement, atomically (as a chat answer's
    save does), so the quota's ``used`` and the ledger never disagree."""
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH quota AS ("
            "  UPDATE chat_tokenquota SET used = used + %(tokens)s, reserved = GREATEST(reserved - %(tokens)s, 0)"
            "  WHERE user_id = %(user)s AND day = %(hold_day)s)"
            " INSERT INTO chat_dailyusage (user_id, day, model, prompt_tokens, completion_tokens, requests)"
            " VALUES (%(user)s, %(day)s, %(model)s, %(tokens)s, 0, 1)"
            " ON CONFLICT (user_id, day, model) DO UPDATE SET"
            "  prompt_tokens = chat_dailyusage.prompt_tokens + EXCLUDED.prompt_tokens,"
            "  requests = chat_dailyusage.requests + 1",
            {
                "tokens": hold.tokens,
                "user": hold.user_id,
                "hold_day": hold.day,
                # The ledger counts on the day the request ended, the quota on the day it was held (as chat does).
                "day": timezone.now().date(),
                "model": model,
            },
        )
