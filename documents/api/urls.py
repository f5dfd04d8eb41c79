from accounts.api.routes import api_path
from documents.api import views

urlpatterns = [
    *api_path("documents/", views.DocumentListCreateView.as_view(), name="api-documents"),
    *api_path(
        "documents/<uuid:document_id>/", views.DocumentDetailView.as_view(), name="api-document", was_slashless=True
    ),
    *api_path(
        "documents/<uuid:document_id>/download/",
        views.DocumentDownloadView.as_view(),
        name="api-document-download",
        was_slashless=True,
    ),
    *api_path("documents/<uuid:document_id>/retry/", views.DocumentRetryView.as_view(), name="api-document-retry"),
    *api_path("search/", views.SearchView.as_view(), name="api-search"),
    *api_path("web/fetch/", views.WebFetchView.as_view(), name="api-web-fetch", was_slashless=True),
]
