from accounts.api.routes import api_path
from chat.api import branches, tasks, views

urlpatterns = [
    *api_path("conversations/", views.ConversationListCreateView.as_view(), name="api-conversations"),
    *api_path("conversations/<uuid:conversation_id>/", views.ConversationDetailView.as_view(), name="api-conversation"),
    *api_path(
        "conversations/<uuid:conversation_id>/export/",
        views.ConversationExportView.as_view(),
        name="api-conversation-export",
        was_slashless=True,
    ),
    *api_path(
        "conversations/<uuid:conversation_id>/messages/",
        views.MessageListCreateView.as_view(),
        name="api-conversation-messages",
    ),
    *api_path(
        "conversations/<uuid:conversation_id>/messages/<uuid:message_id>/regenerate/",
        branches.RegenerateView.as_view(),
        name="api-message-regenerate",
    ),
    *api_path(
        "conversations/<uuid:conversation_id>/messages/<uuid:message_id>/edit/",
        branches.EditView.as_view(),
        name="api-message-edit",
    ),
    *api_path(
        "conversations/<uuid:conversation_id>/branch/", branches.BranchView.as_view(), name="api-conversation-branch"
    ),
    *api_path(
        "messages/<uuid:message_id>/rating/",
        views.MessageRatingView.as_view(),
        name="api-message-rating",
        was_slashless=True,
    ),
    *api_path("usage/", views.UsageView.as_view(), name="api-usage", was_slashless=True),
    *api_path("tasks/classify/", tasks.ClassifyView.as_view(), name="api-task-classify"),
    *api_path("tasks/summarize/", tasks.SummarizeView.as_view(), name="api-task-summarize"),
    *api_path("tasks/extract/", tasks.ExtractView.as_view(), name="api-task-extract"),
    *api_path("tasks/label-sets/", tasks.LabelSetListCreateView.as_view(), name="api-label-sets"),
    *api_path("tasks/label-sets/<int:label_set_id>/", tasks.LabelSetDetailView.as_view(), name="api-label-set"),
]
