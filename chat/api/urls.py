from django.urls import path

from chat.api import views

urlpatterns = [
    path("conversations/", views.ConversationListCreateView.as_view(), name="api-conversations"),
    path("conversations/<uuid:conversation_id>/", views.ConversationDetailView.as_view(), name="api-conversation"),
    path(
        "conversations/<uuid:conversation_id>/export",
        views.ConversationExportView.as_view(),
        name="api-conversation-export",
    ),
    path(
        "conversations/<uuid:conversation_id>/messages/",
        views.MessageListCreateView.as_view(),
        name="api-conversation-messages",
    ),
    path("messages/<uuid:message_id>/rating", views.MessageRatingView.as_view(), name="api-message-rating"),
    path("usage", views.UsageView.as_view(), name="api-usage"),
]
