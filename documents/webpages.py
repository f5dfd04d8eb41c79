"""Web pages as sources: links found in a message, fetched concurrently through the guard, cached in the database."""

import asyncio
import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from core.db import in_db_thread
from documents import web
from documents.models import WebPage

# What counts as a link in a message. The chat page finds links with the same pattern (static/js/chat/links.js
# reads it from the page), so the chips under the prompt show exactly the pages the server will read.
URL_PATTERN = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
TRAILING_PUNCTUATION = ".,;:!?)]}>\"'"


@dataclass(frozen=True)
class WebResult:
    url: str
    page: web.Page | None = None
    refused: web.FetchRefused | None = None
    cached: bool = False


@dataclass(frozen=True)
class LinkRules:
    """How links are found in a message, for a page that shows them before it is sent."""

    pattern: str
    trailing: str
    max_count: int


def link_rules() -> LinkRules:
    return LinkRules(URL_PATTERN.pattern, TRAILING_PUNCTUATION, settings.WEB_MAX_URLS_PER_MESSAGE)


def urls_in(text: str) -> list[str]:
    """The http(s) links in a message, in order, without duplicates or trailing punctuation."""
    found = []
    for match in URL_PATTERN.finditer(text):
        url = match.group(0).rstrip(TRAILING_PUNCTUATION)
        if url not in found:
            found.append(url)
    return found[: settings.WEB_MAX_URLS_PER_MESSAGE]


def _cached(url: str) -> web.Page | None:
    fresh_since = timezone.now() - timedelta(seconds=settings.WEB_CACHE_SECONDS)
    row = WebPage.objects.filter(url=url, fetched_at__gte=fresh_since).first()
    if row is None:
        return None
    return web.Page(row.url, row.final_url, row.title, row.text, row.content_type, row.truncated)


def _remember(page: web.Page) -> None:
    WebPage.objects.update_or_create(
        url=page.url,
        defaults={
            "final_url": page.final_url,
            "title": page.title[:300],
            "text": page.text,
            "content_type": page.content_type,
            "truncated": page.truncated,
            "fetched_at": timezone.now(),
        },
    )


async def read_page(url: str, client=None) -> WebResult:
    if settings.WEB_CACHE_SECONDS and (page := await in_db_thread(_cached)(url)) is not None:
        return WebResult(url, page=page, cached=True)
    try:
        page = await web.fetch(url, client)
    except web.FetchRefused as refused:
        return WebResult(url, refused=refused)
    if settings.WEB_CACHE_SECONDS:
        await in_db_thread(_remember)(page)
    return WebResult(url, page=page)


async def read_pages(urls: list[str]) -> list[WebResult]:
    """All at once: five slow pages take as long as the slowest, not as long as all five."""
    if not urls:
        return []
    async with web.new_client() as client:
        return await asyncio.gather(*(read_page(url, client) for url in urls))
