from django.core.management.base import BaseCommand

from genaisite.embedded.stack import serve


class Command(BaseCommand):
    help = "Start the embedded services (unless configured elsewhere), migrate, and run the web server and worker."
    requires_system_checks = []

    def handle(self, *args, **options) -> None:
        code = serve(lambda line: self.stdout.write(line))
        if code:
            raise SystemExit(code)
