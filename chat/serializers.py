"""Shapes shared by the REST API, the websocket frames, SSE events and exports.

``message_data`` and ``conversation_data`` build the dicts by hand: every streamed answer sends a few, and DRF's
ModelSerializer introspects the model on each instantiation (milliseconds of CPU each). The serializers below declare
the same fields for validation and the OpenAPI schema, and delegate the output to these functions.
"""

from rest_framework import serializers

from chat.models import Conversation, Message


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


HIDDEN_TEXT = "This message was hidden by a moderator."


def message_data(message: Message, versions: list | None = None) -> dict:
    """``versions``: the ids of the message's versions, oldest first (chat.branches); itself alone by default."""
    hidden = message.hidden_at is not None
    return {
        "id": str(message.pk),
        "parent_id": str(message.parent_id) if message.parent_id else None,
        "versions": [str(pk) for pk in versions] if versions else [str(message.pk)],
        "role": message.role,
        # A hidden message keeps its text in the database for the record, but no client gets it any more.
        "content": "" if hidden else message.content,
        "hidden": hidden,
        "status": message.status,
        "model": message.model,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "usage_estimated": message.usage_estimated,
        "time_to_first_token_ms": message.time_to_first_token_ms,
        "duration_ms": message.duration_ms,
        "finish_reason": message.finish_reason,
        "error": HIDDEN_TEXT if hidden else message.error,
        "sources": [] if hidden else message.sources,
        "cached": message.cached or None,
        "created_at": _iso(message.created_at),
    }


def preset_data(conversation: Conversation) -> dict | None:
    """The preset revision the conversation keeps (fetched with it: select_related, as the selectors do)."""
    if conversation.preset_revision_id is None:
        return None
    revision = conversation.preset_revision
    preset = revision.preset
    return {
        "id": preset.pk,
        "slug": preset.slug,
        "name": preset.name,
        "revision": revision.number,
        "locked": revision.locked,
        "starter_prompts": revision.starter_prompts,
    }


def conversation_data(conversation: Conversation) -> dict:
    return {
        "id": str(conversation.pk),
        "title": conversation.title,
        "model": conversation.model,
        "source": conversation.source,
        "archived": conversation.archived,
        "documents_mode": conversation.documents_mode,
        "preset": preset_data(conversation),
        "current_leaf_id": str(conversation.current_leaf_id) if conversation.current_leaf_id else None,
        "created_at": _iso(conversation.created_at),
        "updated_at": _iso(conversation.updated_at),
    }


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = [
            "id",
            "parent_id",
            "versions",
            "role",
            "content",
            "hidden",
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
            "cached",
            "created_at",
        ]
        read_only_fields = fields

    parent_id = serializers.UUIDField(
        read_only=True, allow_null=True, help_text="The message this one follows (null for the first question)."
    )
    versions = serializers.ListField(
        child=serializers.UUIDField(),
        read_only=True,
        help_text="This message and its alternatives (regenerated answers, edited questions), oldest first; "
        "PUT …/branch/ with one of them shows that version.",
    )
    hidden = serializers.BooleanField(read_only=True, help_text="Hidden by a moderator: content and sources withheld.")
    cached = serializers.ChoiceField(
        choices=["exact"],
        allow_null=True,
        read_only=True,
        help_text="Served from the answer cache (`exact`), with no model tokens; null when the model wrote it.",
    )

    def to_representation(self, instance: Message) -> dict:
        return message_data(instance, self.context.get("versions", {}).get(instance.pk))


class ConversationPresetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    revision = serializers.IntegerField(help_text="The revision the conversation started with; later turns keep it.")
    locked = serializers.BooleanField()
    starter_prompts = serializers.ListField(child=serializers.CharField())


class ConversationSerializer(serializers.ModelSerializer):
    preset = ConversationPresetSerializer(read_only=True, allow_null=True, help_text="null: no preset.")
    current_leaf_id = serializers.UUIDField(
        read_only=True,
        allow_null=True,
        help_text="The last message of the branch shown and continued (regenerating or editing branches off).",
    )

    class Meta:
        model = Conversation
        fields = [
            *("id", "title", "model", "source", "archived", "documents_mode", "preset", "current_leaf_id"),
            *("created_at", "updated_at"),
        ]
        read_only_fields = ["id", "source", "preset", "current_leaf_id", "created_at", "updated_at"]

    def to_representation(self, instance: Conversation) -> dict:
        return conversation_data(instance)


class ConversationDetailSerializer(ConversationSerializer):
    """One conversation as GET …/conversations/<id>/ answers it: with the documents it was pointed at."""

    document_ids = serializers.ListField(
        child=serializers.UUIDField(), read_only=True, help_text="With documents_mode `selected`: the documents used."
    )

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "document_ids"]


class ConversationExportSerializer(ConversationSerializer):
    """A conversation exported as JSON: the conversation and all its messages, oldest first."""

    messages = MessageSerializer(many=True, read_only=True)

    class Meta(ConversationSerializer.Meta):
        fields = [*ConversationSerializer.Meta.fields, "messages"]
