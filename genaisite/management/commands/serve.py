from django.core.management.base import BaseCommand

from genaisite.embedded.processes import timestamped
from genaisite.embedded.stack import serve


class Command(BaseCommand):
    help = "Start the embedded services (unless configured elsewhere), migrate, and run the web server and worker."
    requires_system_checks = []

    def handle(self, *args, **options) -> None:
        # Stamped like the log lines of the web server and worker, which share this terminal.
        code = serve(lambda line: self.stdout.write(timestamped(line)))
        if code:
            raise SystemExit(code)
