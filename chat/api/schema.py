"""OpenAPI descriptions of the chat answers that views build without a serializer: usage, the event stream, a
failed answer. Kept apart from the views so the views read as code."""

from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers

from accounts.api.schema import ErrorDetail, errors
from chat.serializers import MessageSerializer

SSE_EVENTS = """Server-Sent Events, one per step of the answer, named like the websocket frames (docs/websocket.md):
`event: <type>` and `data: <the frame as JSON>`, separated by a blank line. The stream ends after `done`.
Send `"stream": true` to get them.

| event | data |
|---|---|
| `started` | `user_message`, `message` (the assistant message, `status: "pending"`) |
| `web` | `message_id`, `pages` (`url`, `title`, `cached`), `unusable` (`url`, `reason`, `message`) |
| `delta` | `message_id`, `offset` (where `text` starts in the answer), `text` |
| `sources` | `message_id`, `sources` (what the answer cites) |
| `error` | `code`, `message`, `message_id`: the model failed; `done` follows |
| `done` | `message_id`, `status` (`complete`, `stopped`, `failed`), `content` (the full saved text), `usage`… |
"""


class ModelUsage(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    requests = serializers.IntegerField()


class UsagePeriod(serializers.Serializer):
    total_tokens = serializers.IntegerField()
    by_model = serializers.DictField(child=ModelUsage(), help_text="Keyed by model name.")


class UsageToday(UsagePeriod):
    date = serializers.DateField()


class UsageMonth(UsagePeriod):
    since = serializers.DateField(help_text="The first day of this month (UTC).")


class Quota(serializers.Serializer):
    daily_budget = serializers.IntegerField()
    used = serializers.IntegerField()
    reserved = serializers.IntegerField(help_text="Held by answers being written.")
    remaining = serializers.IntegerField()
    resets_at = serializers.DateTimeField()


class UsageOutput(serializers.Serializer):
    today = UsageToday()
    month = UsageMonth()
    quota = Quota()
    resets_at = serializers.DateTimeField(help_text="When today's budget starts again (midnight UTC).")


STREAM_EVENTS = ["started", "web", "delta", "sources", "error", "done"]


class ServerSentEvent(serializers.Serializer):
    """One event of the stream (OpenAPI 3.0 describes an event stream by the schema of each event)."""

    event = serializers.ChoiceField(choices=STREAM_EVENTS)
    data = serializers.CharField(help_text="The frame as JSON, with the same `type` as the event's name.")


class GenerationFailed(serializers.Serializer):
    """The model failed while answering: the error, and the answer as saved (``status: failed``)."""

    error = ErrorDetail()
    message = MessageSerializer()


MESSAGE_CREATE_RESPONSES = {
    201: OpenApiResponse(MessageSerializer, description="The complete answer (without `stream`)."),
    (200, "text/event-stream"): OpenApiResponse(ServerSentEvent, description=SSE_EVENTS),
    **errors(409, 413, 422),
    502: OpenApiResponse(GenerationFailed, description="The model server failed; the partial answer is saved."),
    **errors(503),
}
