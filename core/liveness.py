"""Which web processes are alive: each running one keeps a short-lived key in Valkey fresh.

An answer's row names the process writing it. When that process is killed (kill -9, out of memory, a lost machine)
its key expires within ``LIVENESS_LEASE_SECONDS``, so another process can tell a dead writer from a slow one and
close the answer at once, instead of leaving the conversation busy until a deadline-sized timeout.
"""

import asyncio
import logging
import uuid
import weakref

from django.conf import settings

from core import shared_redis

logger = logging.getLogger(__name__)

PROCESS_ID = uuid.uuid4().hex  # this process, as answer rows name their writer


def lease_seconds() -> int:
    return settings.LIVENESS_LEASE_SECONDS


_renewing: "weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Task]" = weakref.WeakKeyDictionary()


def _key(process_id: str) -> str:
    return f"genaisite:alive:{process_id}"


def _renew() -> None:
    shared_redis.client().set(_key(PROCESS_ID), 1, ex=lease_seconds())


def keep_alive() -> None:
    """Start renewing this process's lease in the running loop (once per loop; cheap to call per answer)."""
    loop = asyncio.get_running_loop()
    if loop in _renewing:
        return
    _renewing[loop] = loop.create_task(_renew_forever(), name="liveness-lease")


async def _renew_forever() -> None:
    while True:
        try:
            await asyncio.to_thread(_renew)
        except Exception as exc:  # the broker is down: answers here may be closed as dead meanwhile; keep trying
            logger.warning("could not renew this process's liveness lease: %s", exc)
        await asyncio.sleep(lease_seconds() / 3)  # two renewals may fail before the lease runs out


def dead(process_ids: set[str]) -> set[str]:
    """Those of ``process_ids`` whose lease has expired. Unknown (broker down) counts as alive: nothing is closed."""
    ids = sorted(process_ids)
    if not ids:
        return set()
    try:
        found = shared_redis.client().mget([_key(process_id) for process_id in ids])
    except Exception as exc:
        logger.warning("could not read liveness leases: %s", exc)
        return set()
    return {process_id for process_id, value in zip(ids, found, strict=True) if value is None}
