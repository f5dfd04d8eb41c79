"""ORM work from async code: the one way every app reaches the database from a coroutine."""

import functools
from concurrent.futures import Executor

from asgiref.sync import sync_to_async
from django.db import close_old_connections


def in_db_thread(fn, *, executor: Executor | None = None):
    """Run ORM work on a pool thread (not the single shared sync thread), so concurrent streams don't queue.

    Async code uses this, never Django's async ORM (``aget``, ``aupdate``…) from long-lived tasks: those keep a
    connection on the caller's thread that nobody hands back to the pool. Here the connection is returned inside the
    call itself (Channels' own helper closes it outside the call's context, where it is not seen).
    """

    @functools.wraps(fn)
    def closing(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        finally:
            close_old_connections()

    # ``executor``: a pool of the caller's own, for work that also waits on something slow (an embedding call), so it
    # never takes the loop's default threads from the short ORM calls of every other request.
    return sync_to_async(closing, thread_sensitive=False, executor=executor)
