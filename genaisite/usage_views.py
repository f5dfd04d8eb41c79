"""The usage pages: the admins' view of the whole service, and each person's own tokens as an image on their account
page (an <img>: the account page lives in accounts, which reads nothing of chat). Charts are SVG drawn here
(core.charts), computed from the database (genaisite.usage)."""

from datetime import date

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.models import Role
from core import charts
from genaisite import usage


def _labels(days: list[date]) -> list[str]:
    return [day.strftime("%m-%d") for day in days]


@login_required
@require_GET
def usage_page(request: HttpRequest) -> HttpResponse:
    if request.user.role != Role.ADMIN:
        raise PermissionDenied("The usage page is for admins.")
    days = usage.window()
    labels = _labels(days)
    hit_rates, answers = usage.cache_hit_rate(days)
    context = {
        "days": len(days),
        "answers": answers,
        "hit_share": 100 * answers["hits"] / answers["answers"] if answers["answers"] else None,
        "charts": [
            charts.columns("Tokens by day", labels, usage.tokens_by_day(days)),
            charts.bars("Tokens by model", usage.tokens_by_model(days)),
            charts.bars(f"Tokens by user (top {usage.TOP_USERS})", usage.tokens_by_user(days)),
            charts.lines("Time to first token by day", labels, usage.ttft_percentiles(days), unit=" ms"),
            charts.lines("Answer-cache hit rate by day", labels, {"hit rate": hit_rates}, unit="%"),
            charts.columns("Documents ingested by day", labels, usage.ingestion_by_day(days)),
            charts.columns("Batch lines finished by day", labels, usage.batch_lines_by_day(days)),
        ],
    }
    return render(request, "usage.html", context)


def _svg(chart: str) -> HttpResponse:
    return HttpResponse(chart, content_type="image/svg+xml; charset=utf-8")


@never_cache
@login_required
@require_GET
def my_tokens_by_day(request: HttpRequest) -> HttpResponse:
    days = usage.window()
    return _svg(charts.columns("Your tokens by day", _labels(days), usage.tokens_by_day(days, request.user)))


@never_cache
@login_required
@require_GET
def my_tokens_by_model(request: HttpRequest) -> HttpResponse:
    return _svg(charts.bars("Your tokens by model", usage.tokens_by_model(usage.window(), request.user)))
