"""pytest: the real embedded Postgres, a fixed key, fast password hashing."""

import os
import tempfile
from pathlib import Path

from genaisite.env import env_bool

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = "test-only-secret-key-not-used-anywhere-else-0123456789abcdef"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Uploaded files of the test run; worker processes started by tests read the same directory.
MEDIA_ROOT = DATA_DIR / "test-media"  # noqa: F405

# The built-in ML models are trained by the tests that need them (one test turns this on for `serve`).
ML_ENSURE_BUILTINS = env_bool("ML_ENSURE_BUILTINS", False)
# Metric samples of one test run, never the development server's var/metrics. Set in the environment here, so the
# workers and web servers the run starts (which load these settings too) write where this process reads.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    METRICS_DIR = Path(tempfile.mkdtemp(prefix="genaisite-test-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(METRICS_DIR)
