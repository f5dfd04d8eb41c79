from django.urls import path

from documents import views

app_name = "documents"

urlpatterns = [
    path("", views.documents_page, name="list"),
    path("<uuid:document_id>/delete/", views.document_delete, name="delete"),
    path("<uuid:document_id>/retry/", views.document_retry, name="retry"),
    path("<uuid:document_id>/share/", views.document_share, name="share"),
    path("<uuid:document_id>/download/", views.document_download, name="download"),
    path("<uuid:document_id>/read/", views.document_read, name="read"),
    path("<uuid:document_id>/original/", views.document_original, name="original"),
]
