from django.apps import AppConfig


class PresetsConfig(AppConfig):
    name = "presets"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from presets.builtins import ensure_builtin_presets

        # The built-in presets come with the data migration; recreated if missing after a flush (tests) as well.
        post_migrate.connect(ensure_builtin_presets, sender=self)
