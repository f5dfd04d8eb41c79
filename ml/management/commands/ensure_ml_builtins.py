"""``manage.py ensure_ml_builtins``: train each built-in model that has no version yet, from the repository's data,
and point its production alias at it. ``serve`` runs this as a child process at start (ML_ENSURE_BUILTINS)."""

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from ml.builtins import BUILTINS, DEFAULT_ALIAS, ensure_builtin_models
from ml.models import ModelVersion


class Command(BaseCommand):
    help = "Train the built-in ML models that have no version yet."

    def handle(self, *args, **options) -> None:
        ensure_builtin_models()
        failed = []
        for spec in BUILTINS:
            if ModelVersion.objects.filter(model__name=spec.name).exists():
                continue
            self.stdout.write(f"training the built-in model {spec.name} from {spec.csv.name}")
            try:
                call_command("train_model", spec.name, csv=spec.csv, alias=DEFAULT_ALIAS, stdout=self.stdout)
            except CommandError as exc:  # the next one may still succeed (text-topic needs the embedding service)
                self.stderr.write(f"{spec.name}: {exc}")
                failed.append(spec.name)
        if failed:
            raise CommandError(f"not trained: {', '.join(failed)}")
