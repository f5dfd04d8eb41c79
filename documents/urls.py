from django.urls import path

from documents import views

app_name = "documents"

urlpatterns = [
    path("", views.documents_page, name="list"),
    path("<uuid:document_id>/delete/", views.document_delete, name="delete"),
    path("<uuid:document_id>/retry/", views.document_retry, name="retry"),
    path("<uuid:document_id>/share/", views.document_share, name="share"),
    path("<uuid:document_id>/download/", views.document_download, name="download"),
]
