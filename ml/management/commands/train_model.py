"""``manage.py train_model house-price --csv ml/data/house_prices.csv --alias production``: train in this process
(never in a web process), register the version with its metrics, optionally move an alias to it."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.errors import ServiceError
from ml import artifacts, services
from ml.builtins import ensure_builtin_models
from ml.models import RegisteredModel
from ml.training import TRAINERS, train


class Command(BaseCommand):
    help = "Train a model from a CSV in this process and register the result as its next version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", choices=sorted(TRAINERS))
        parser.add_argument("--csv", required=True, type=Path, help="The training table (see docs/ml.md).")
        parser.add_argument("--alias", default="", help="Move this alias (e.g. production) to the new version.")
        parser.add_argument("--user", default="", help="Record this username as the version's author.")
        parser.add_argument("--job", type=int, help="The admin's training job this run is for.")

    def handle(self, *args, **options) -> None:
        ensure_builtin_models()
        model = RegisteredModel.objects.get(name=options["model"])
        author = get_user_model().objects.filter(username=options["user"]).first() if options["user"] else None
        try:
            trained = train(model.name, options["csv"])
            version = services.version_register(
                model=model,
                data=artifacts.dump(trained.estimator),
                input_format=trained.input_format,
                input_schema=trained.input_schema,
                library_versions=artifacts.library_versions(),
                output=trained.output,
                metrics=trained.metrics,
                training_rows=trained.training_rows,
                created_by=author,
                alias=options["alias"],
            )
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        if options["job"]:
            services.training_job_version(job_id=options["job"], version=version)
        metrics = ", ".join(f"{k}={v}" for k, v in trained.metrics.items() if not isinstance(v, dict))
        moved = f"; {model.name}@{options['alias']} now names it" if options["alias"] else ""
        self.stdout.write(f"registered {version} from {trained.training_rows} rows: {metrics}{moved}")
