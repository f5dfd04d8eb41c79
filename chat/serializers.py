"""Shapes shared by the REST API, the websocket frames, SSE events and exports."""

from rest_framework import serializers

from chat.models import Conversation, Message


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id",
            "role",
            "content",
            "status",
            "model",
            "prompt_tokens",
            "completion_tokens",
            "usage_estimated",
            "time_to_first_token_ms",
            "duration_ms",
            "finish_reason",
            "error",
            "sources",
            "created_at",
        ]
        read_only_fields = fields


class ConversationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Conversation
        fields = ["id", "title", "model", "source", "archived", "created_at", "updated_at"]
        read_only_fields = ["id", "source", "created_at", "updated_at"]
