"""Local development: `make run` and `manage.py` use these settings unless DJANGO_SETTINGS_MODULE says otherwise."""

from genaisite.embedded.local_secrets import local_secret
from genaisite.env import env_bool, env_str

from .base import *  # noqa: F403
from .base import DATA_DIR

DEBUG = env_bool("DEBUG", True)
# Not a hard-coded default: a random key generated once per data directory, so sessions survive restarts.
SECRET_KEY = env_str("SECRET_KEY") or local_secret(DATA_DIR / "secret_key", nbytes=48)
