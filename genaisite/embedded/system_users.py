"""System users the embedded servers run as when `manage.py serve` is started as root.

Postgres refuses to run as root; Valkey would not, but nothing in it needs root either, so a flaw in a server reached
over the network takes only a user that owns nothing but that server's own data.
"""

import logging
import os
import pwd
import subprocess
from pathlib import Path

logger = logging.getLogger(__name__)


def running_as_root() -> bool:
    return os.geteuid() == 0


def ensure_system_user(name: str, purpose: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        logger.info("creating system user %s to run %s", name, purpose)
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name], check=True)


def grant_search_on_parents(*paths: Path) -> None:
    """A server's user must reach its data and its binary: grant search (x) on parents that lack it."""
    for path in paths:
        for parent in [path, *path.parents]:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                os.chmod(parent, mode | 0o001)
