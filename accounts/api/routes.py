"""/api/v1 paths end with a slash, as DRF's routers make them: one convention, so no client has to guess.

Some paths were first published without one (``me``, ``keys/<id>``, ``usage``…). They keep answering at the old
address as well, for every method: a redirect would do for GET, but clients drop a POST or PATCH body on a redirect.
The old routes carry their name with ``LEGACY_SUFFIX``, so ``reverse()`` of the real name gives the new path, and
the OpenAPI schema leaves them out (``accounts.api.schema.drop_legacy_paths``).
"""

from collections.abc import Callable

from django.urls import URLPattern, path

LEGACY_SUFFIX = "-slashless"


def api_path(route: str, view: Callable, *, name: str, was_slashless: bool = False) -> list[URLPattern]:
    """``route`` (ending in a slash) under ``name``; with ``was_slashless``, the same view without the slash too."""
    if not route.endswith("/"):
        raise ValueError(f"/api/v1 routes end with a slash: {route!r}")
    patterns = [path(route, view, name=name)]
    if was_slashless:
        patterns.append(path(route.removesuffix("/"), view, name=name + LEGACY_SUFFIX))
    return patterns


def is_legacy(pattern: URLPattern) -> bool:
    return bool(pattern.name) and pattern.name.endswith(LEGACY_SUFFIX)
