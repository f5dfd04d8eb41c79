"""Lists in /api/v1 page with ``?limit=&offset=`` and answer ``{count, next, previous, results}``."""

from rest_framework.pagination import LimitOffsetPagination


class ApiPagination(LimitOffsetPagination):
    # Without a cap, ?limit=10**20 reaches the database as a LIMIT beyond bigint and fails there.
    max_limit = 200
