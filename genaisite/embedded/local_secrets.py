"""Secrets the embedded defaults generate for themselves, kept under DATA_DIR and never committed."""

import os
import secrets
from pathlib import Path


def local_secret(path: Path, *, nbytes: int = 32) -> str:
    """Read the secret stored at ``path``, creating it (mode 0600) on first use."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(nbytes) + "\n")
    try:
        # link() is atomic and refuses to overwrite: when two processes race at first start, both end up
        # reading the one secret that won.
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()
