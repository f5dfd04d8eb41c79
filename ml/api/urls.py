from accounts.api.routes import api_path
from ml.api import views

urlpatterns = [
    *api_path("ml/models/", views.ModelListView.as_view(), name="api-ml-models"),
    *api_path("ml/models/<str:name>/", views.ModelDetailView.as_view(), name="api-ml-model"),
    *api_path("ml/<str:ref>/predict/", views.PredictView.as_view(), name="api-ml-predict"),
]
