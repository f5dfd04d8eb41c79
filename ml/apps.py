from django.apps import AppConfig


class MlConfig(AppConfig):
    name = "ml"
    verbose_name = "Machine learning models"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from ml.builtins import ensure_builtin_models

        # The built-in models' registry rows (and the types their pipelines need) exist after every migrate, so the
        # API says "not loaded yet" (503) rather than "no such model" (404) while their first training runs.
        post_migrate.connect(ensure_builtin_models, sender=self)
