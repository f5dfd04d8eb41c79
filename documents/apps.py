from django.apps import AppConfig


class DocumentsConfig(AppConfig):
    name = "documents"

    def ready(self) -> None:
        # The ingestion task listens for committed uploads (documents.services.document_uploaded); importing the
        # tasks here connects it in every process.
        from documents import tasks  # noqa: F401
