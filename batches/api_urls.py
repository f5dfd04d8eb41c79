from accounts.api.routes import api_path
from batches import api

urlpatterns = [
    *api_path("batches/", api.BatchListCreateView.as_view(), name="api-batches"),
    *api_path("batches/<str:batch_id>/", api.BatchDetailView.as_view(), name="api-batch"),
    *api_path("batches/<str:batch_id>/cancel/", api.BatchCancelView.as_view(), name="api-batch-cancel"),
    *api_path("batches/<str:batch_id>/results/", api.BatchResultsView.as_view(), name="api-batch-results"),
]
