from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from genaisite.embedded import EmbeddedServiceError
from genaisite.embedded.postgres import from_settings


class Command(BaseCommand):
    help = "Start, stop or report the embedded Postgres (for manage.py work outside `make run`)."
    requires_system_checks = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["start", "stop", "status"])

    def handle(self, *args, action: str, **options) -> None:
        if not settings.EMBEDDED_POSTGRES:
            raise CommandError("DATABASE_URL is set: this project is not using the embedded Postgres.")
        server = from_settings()
        try:
            if action == "start":
                started = server.ensure_started()
                self.stdout.write(f"postgres {'started' if started else 'already running'} on 127.0.0.1:{server.port}")
            elif action == "stop":
                server.stop()
                self.stdout.write("postgres stopped")
            else:
                self.stdout.write("running" if server.is_running() else "stopped")
        except EmbeddedServiceError as exc:
            raise CommandError(str(exc)) from exc
