from django.apps import AppConfig


class GenaisiteConfig(AppConfig):
    name = "genaisite"
    verbose_name = "Site infrastructure"

    def ready(self) -> None:
        # Every process (web, worker, commands): request ids into tasks, and spans when asked for.
        from huey.contrib.djhuey import HUEY

        from genaisite import observability

        observability.install_huey_hooks(HUEY)
        observability.setup_tracing()
