from django.urls import path

from chat.openai_compat import embeddings, views

urlpatterns = [
    path("chat/completions", views.chat_completions, name="openai-chat-completions"),
    path("models", views.models, name="openai-models"),
    path("embeddings", embeddings.embeddings, name="openai-embeddings"),
]
