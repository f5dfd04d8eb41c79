from django.urls import path

from accounts.api import views

urlpatterns = [
    path("me", views.MeView.as_view(), name="api-me"),
    path("keys", views.ApiKeyListCreateView.as_view(), name="api-keys"),
    path("keys/<int:key_id>", views.ApiKeyDetailView.as_view(), name="api-key-detail"),
]
