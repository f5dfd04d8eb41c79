from accounts.api import views
from accounts.api.routes import api_path

urlpatterns = [
    *api_path("me/", views.MeView.as_view(), name="api-me", was_slashless=True),
    *api_path("keys/", views.ApiKeyListCreateView.as_view(), name="api-keys", was_slashless=True),
    *api_path("keys/<int:key_id>/", views.ApiKeyDetailView.as_view(), name="api-key-detail", was_slashless=True),
]
