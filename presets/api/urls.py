from accounts.api.routes import api_path
from presets.api import views

urlpatterns = [
    *api_path("presets/", views.PresetListCreateView.as_view(), name="api-presets"),
    *api_path("presets/<str:preset>/", views.PresetDetailView.as_view(), name="api-preset"),
    *api_path("presets/<str:preset>/duplicate/", views.PresetDuplicateView.as_view(), name="api-preset-duplicate"),
]
