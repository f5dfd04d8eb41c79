from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from accounts import views as account_views
from batches import views as batch_views
from chat import views as chat_views
from genaisite import usage_views, views
from genaisite.metrics import metrics_view

api_v1 = [
    path("", include("accounts.api.urls")),
    path("", include("chat.api.urls")),
    path("", include("documents.api.urls")),
    path("", include("presets.api.urls")),
    path("", include("ml.api.urls")),
    path("", include("batches.api_urls")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", views.ApiDocsView.as_view(url_name="api-schema"), name="api-docs"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("accounts/", include("accounts.urls")),
    # Single sign-on (allauth's OpenID Connect flow; its own account pages are not mounted: ours above are used).
    path("accounts/", include("accounts.sso.urls")),
    path("documents/", include("documents.urls")),
    path("chat/", include("chat.urls")),
    path("presets/", include("presets.urls")),
    path("ml/", include("ml.urls")),
    path("tasks/", chat_views.tasks_page, name="tasks"),
    path("batches/", batch_views.batches_page, name="batches"),
    path("usage/", usage_views.usage_page, name="usage"),
    path("usage/mine/days.svg", usage_views.my_tokens_by_day, name="usage-mine-days"),
    path("usage/mine/models.svg", usage_views.my_tokens_by_model, name="usage-mine-models"),
    path("api/v1/", include(api_v1)),
    path("v1/", include("chat.openai_compat.urls")),
    path("v1/", include("batches.urls")),
    # One sign-in page for everyone, so the admin's login gets the same failed-attempt throttling.
    path("admin/login/", account_views.admin_sign_in),
    path("admin/", admin.site.urls),
    # Browsers ask for /favicon.ico on pages that do not name an icon (the admin's, the API docs').
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
]

handler400 = "genaisite.views.bad_request"
handler404 = "genaisite.views.not_found"
handler500 = "genaisite.views.server_error"
