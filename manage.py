#!/usr/bin/env python
"""Django's command-line utility, with configuration errors reported as one line naming the variable."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "genaisite.settings.development")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import OperationalError

    try:
        execute_from_command_line(sys.argv)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        sys.exit(2)
    except OperationalError as exc:
        from django.conf import settings

        hint = " (the embedded Postgres is not running: `make run`, or `python manage.py postgres start`)"
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        sys.stderr.write(f"database unavailable: {first_line}{hint if settings.EMBEDDED_POSTGRES else ''}\n")
        sys.exit(3)


if __name__ == "__main__":
    main()
