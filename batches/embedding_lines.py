"""A line of an embeddings batch (``/v1/embeddings``), answered as that endpoint answers it.

The body is parsed by the view's own parser and answered by the view's own function (``answer_data``): the same gate
(admission, the daily quota, the usage ledger) and the same response body, so a line's response in the output file
is what ``POST /v1/embeddings`` would have returned for it. The runner does the rest, as for a chat line: it parks
the batch on a spent budget, records any other refusal as the line's response.
"""

from chat import admission
from chat.embeddings import EXECUTOR
from chat.openai_compat.embeddings import answer_data, embeddings_request
from core.db import in_db_thread


def _answer(caller: admission.Caller, body: dict) -> tuple[int, dict, dict]:
    answered = answer_data(embeddings_request(body), caller)
    # The batch's token counters read a chat answer's usage; an embedding generates nothing.
    usage = {"prompt_tokens": answered["usage"]["prompt_tokens"], "completion_tokens": 0}
    return 200, answered, usage


# On the embedding threads, as the view: most of a line is waiting for the model, which the loop's threads must not.
_answer_off_loop = in_db_thread(_answer, executor=EXECUTOR)


async def answer(caller: admission.Caller, body: dict) -> tuple[int, dict, dict]:
    """(HTTP status, response body, usage for the batch's counters); a refusal raises ``ServiceError``."""
    return await _answer_off_loop(caller, body)
