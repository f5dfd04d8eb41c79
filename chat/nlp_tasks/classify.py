"""Classification under a schema (``{"label": <one of the labels>}``), with scores from the model's own
token probabilities.

llama-server constrains the answer with the schema's grammar, and with ``logprobs`` reports, for each token it wrote,
the model's probability of its ``top`` alternatives — before the grammar, so they include tokens the grammar forbids.
Scores come from those: walking the label's tokens, at each position the alternatives that still spell one of the
labels are renormalised (exactly what the grammar does), the mass of an alternative that spells only one label goes to
it, and the walk follows the written token until the label is decided. An alternative that spells the start of
several labels (``"n"`` for "negative" and "neutral") has its mass shared among them in proportion to what they got.
A label whose first token is not among the top alternatives gets 0: its true probability is below the least likely
one listed. Backends that report no logprobs get ``scores: null``; nothing is made up.
"""

import json
import math
import re

from django.conf import settings

from chat import llm
from chat.nlp_tasks import calls, prompts
from chat.nlp_tasks.sources import check_text
from core import structured
from core.errors import ServiceError

MIN_LABELS, MAX_LABELS, MAX_LABEL_CHARS = 2, 50, 100
_VALUE_START = re.compile(r'"label"\s*:\s*"')


def clean_labels(labels: object, param: str = "labels") -> list[str]:
    if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
        raise ServiceError("invalid_labels", f"'{param}' must be a list of strings.", param=param)
    cleaned = [label.strip() for label in labels]
    if any(not label or len(label) > MAX_LABEL_CHARS or "\x00" in label for label in cleaned):
        raise ServiceError("invalid_labels", f"Each label must be 1–{MAX_LABEL_CHARS} characters of text.", param=param)
    if len(set(cleaned)) != len(cleaned):
        raise ServiceError("invalid_labels", "The labels must be distinct.", param=param)
    if not MIN_LABELS <= len(cleaned) <= MAX_LABELS:
        raise ServiceError(
            "invalid_labels", f"Send between {MIN_LABELS} and {MAX_LABELS} labels; got {len(cleaned)}.", param=param
        )
    return cleaned


def output_format(labels: list[str]) -> structured.OutputFormat:
    schema = {
        "type": "object",
        "properties": {"label": {"enum": labels}},
        "required": ["label"],
        "additionalProperties": False,
    }
    return structured.OutputFormat(structured.JSON_SCHEMA, schema=schema, name="classification", strict=True)


def _options(entry: dict) -> dict[str, float]:
    """The alternatives the model weighed for one token (the written one included), as probabilities."""
    options = {alt["token"]: alt["logprob"] for alt in entry.get("top_logprobs") or [] if "token" in alt}
    options[entry["token"]] = entry["logprob"]
    return {token: math.exp(logprob) for token, logprob in options.items() if isinstance(logprob, int | float)}


def label_scores(tokens: list[dict], labels: list[str]) -> dict[str, float] | None:
    """Each label's probability from the answer's token logprobs (see the module's docstring), or None when the
    tokens do not show the label being written."""
    written = "".join(entry["token"] for entry in tokens)
    found = _VALUE_START.search(written)
    if found is None:
        return None
    start, head = found.end(), written[: found.end()]
    # How each label is spelled in the JSON, up to and with its closing quote.
    spelled = {label: json.dumps(label, ensure_ascii=False)[1:] for label in labels}
    scores, shared = dict.fromkeys(labels, 0.0), []
    alive, mass, offset = list(labels), 1.0, 0
    for entry in tokens:
        before, offset = written[:offset], offset + len(entry["token"])
        if offset <= start:
            continue  # still before the label: every label shares this path
        groups = {}
        for token, probability in _options(entry).items():
            text = before + token
            if not text.startswith(head):
                continue  # another way to write what comes before the value (spacing): not this path
            value = text[start:]
            fits = [label for label in alive if spelled[label].startswith(value) or value.startswith(spelled[label])]
            if fits:
                groups[token] = (fits, probability)
        total = sum(probability for _, probability in groups.values())
        if entry["token"] not in groups or total <= 0:
            return None
        for token, (fits, probability) in groups.items():
            if token == entry["token"]:
                continue
            if len(fits) == 1:
                scores[fits[0]] += mass * probability / total
            else:
                shared.append((fits, mass * probability / total))
        chosen, probability = groups[entry["token"]]
        mass *= probability / total
        if len(chosen) == 1:
            scores[chosen[0]] += mass
            break
        alive = chosen
    else:
        return None  # the answer ended before its label was decided
    for fits, share in shared:
        weights = [scores[label] for label in fits]
        weight = sum(weights)
        for label, own in zip(fits, weights, strict=True):
            scores[label] += share * (own / weight if weight > 0 else 1 / len(fits))
    total = sum(scores.values())
    return {label: score / total for label, score in scores.items()} if total > 0 else None


async def classify(asker: calls.Asker, *, text: str, labels: list[str]) -> dict:
    tally = calls.Tally()
    collected = llm.TokenLogprobs(top=settings.TASK_TOP_LOGPROBS)
    outcome = await calls.run(
        asker,
        tally,
        system=prompts.CLASSIFY_SYSTEM,
        user=prompts.classify_user(check_text(text), labels),
        data_is_users=True,
        output=output_format(labels),
        # Greedy: the answer is then the label the model finds most likely at the token that decides it.
        extra={"temperature": 0},
        logprobs=collected,
    )
    label = json.loads(outcome.content)["label"]  # validated against the schema before the outcome was complete
    return {
        "label": label,
        "scores": label_scores(collected.attempts[-1] if collected.attempts else [], labels),
        "usage": tally.as_dict(),
    }
