"""Reads for the usage pages, from the database (not Prometheus): the token ledger (chat.DailyUsage), answers
(chat.Message: time to first token, cache hits), documents and batch lines. Here, above every app, because one page
reads them all. Days are UTC, like the ledger and the quotas.
"""

from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Aggregate, Count, F, FloatField, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import User
from batches.models import BatchLine
from chat.models import DailyUsage, Message
from documents.models import Document

DAYS = 30
TOP_USERS = 10


class Percentile(Aggregate):
    """Postgres' ``percentile_cont``: the value below which ``fraction`` of the rows fall (interpolated)."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float) -> None:
        super().__init__(expression, fraction=float(fraction))


def window(days: int = DAYS) -> list[date]:
    today = timezone.now().astimezone(UTC).date()
    return [today - timedelta(days=n) for n in range(days - 1, -1, -1)]


def _since(days: list[date]) -> datetime:
    return datetime.combine(days[0], time.min, tzinfo=UTC)


def _ledger(days: list[date], user: User | None) -> QuerySet[DailyUsage]:
    rows = DailyUsage.objects.filter(day__gte=days[0])
    return rows.filter(user=user) if user is not None else rows


def tokens_by_day(days: list[date], user: User | None = None) -> dict[str, list[float]]:
    totals = {
        row["day"]: row
        for row in _ledger(days, user)
        .values("day")
        .annotate(prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"))
    }
    return {kind: [totals[day][kind] if day in totals else 0 for day in days] for kind in ("prompt", "completion")}


def tokens_by_model(days: list[date], user: User | None = None) -> list[tuple[str, float]]:
    rows = _ledger(days, user).values("model").annotate(total=Sum(F("prompt_tokens") + F("completion_tokens")))
    return [(row["model"], row["total"]) for row in rows.order_by("-total")]


def tokens_by_user(days: list[date], limit: int = TOP_USERS) -> list[tuple[str, float]]:
    rows = _ledger(days, None).values("user__username").annotate(total=Sum(F("prompt_tokens") + F("completion_tokens")))
    return [(row["user__username"], row["total"]) for row in rows.order_by("-total")[:limit]]


def _answers(days: list[date]) -> QuerySet[Message]:
    return Message.objects.filter(role=Message.Role.ASSISTANT, created_at__gte=_since(days)).annotate(
        day=TruncDate("created_at", tzinfo=UTC)
    )


def ttft_percentiles(days: list[date]) -> dict[str, list[float | None]]:
    """Milliseconds, per day; answers served from the cache are left out (they have no model behind them)."""
    measured = _answers(days).filter(time_to_first_token_ms__isnull=False, cached="")
    rows = {
        row["day"]: row
        for row in measured.values("day").annotate(
            p50=Percentile("time_to_first_token_ms", 0.5),
            p90=Percentile("time_to_first_token_ms", 0.9),
            p99=Percentile("time_to_first_token_ms", 0.99),
        )
    }
    return {name: [rows[day][name] if day in rows else None for day in days] for name in ("p50", "p90", "p99")}


def cache_hit_rate(days: list[date]) -> tuple[list[float | None], dict[str, int]]:
    """Per day, the share (%) of answers served from the answer cache; and the window's totals."""
    rows = {
        row["day"]: row
        for row in _answers(days).values("day").annotate(answers=Count("pk"), hits=Count("pk", filter=~Q(cached="")))
    }
    rates = [100 * rows[day]["hits"] / rows[day]["answers"] if day in rows else None for day in days]
    totals = {"answers": sum(r["answers"] for r in rows.values()), "hits": sum(r["hits"] for r in rows.values())}
    return rates, totals


def ingestion_by_day(days: list[date]) -> dict[str, list[float]]:
    ready = Document.objects.filter(status=Document.Status.READY, ready_at__gte=_since(days))
    failed = Document.objects.filter(status=Document.Status.FAILED, updated_at__gte=_since(days))
    return {
        "ready": _per_day(ready, "ready_at", days),
        "failed": _per_day(failed, "updated_at", days),
    }


def batch_lines_by_day(days: list[date]) -> dict[str, list[float]]:
    finished = BatchLine.objects.filter(finished_at__gte=_since(days))
    return {
        state: _per_day(finished.filter(state=state), "finished_at", days)
        for state in (BatchLine.State.SUCCEEDED, BatchLine.State.FAILED)
    }


def _per_day(rows: QuerySet, field: str, days: list[date]) -> list[float]:
    counted = dict(
        rows.annotate(day=TruncDate(field, tzinfo=UTC)).values("day").annotate(n=Count("pk")).values_list("day", "n")
    )
    return [counted.get(day, 0) for day in days]
