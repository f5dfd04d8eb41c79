from accounts.api.routes import api_path
from chat.api import views

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
        "messages/<uuid:message_id>/rating/",
        views.MessageRatingView.as_view(),
        name="api-message-rating",
        was_slashless=True,
    ),
    *api_path("usage/", views.UsageView.as_view(), name="api-usage", was_slashless=True),
]
