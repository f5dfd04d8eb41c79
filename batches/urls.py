from django.urls import path

from batches import openai_views as views

urlpatterns = [
    path("files", views.files_view, name="openai-files"),
    path("files/<str:file_id>", views.file_view, name="openai-file"),
    path("files/<str:file_id>/content", views.file_content_view, name="openai-file-content"),
    path("batches", views.batches_view, name="openai-batches"),
    path("batches/<str:batch_id>", views.batch_view, name="openai-batch"),
    path("batches/<str:batch_id>/cancel", views.batch_cancel_view, name="openai-batch-cancel"),
]
