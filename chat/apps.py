from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"

    def ready(self) -> None:
        # The title task listens for answers completed by the engine (chat.generation.finisher.answer_completed);
        # importing the tasks here connects it in every process, web and worker alike.
        from chat import answer_cache, tasks  # noqa: F401  (the cache listens for documents that change)
