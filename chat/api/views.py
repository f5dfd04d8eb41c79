import asyncio
import json
from collections.abc import AsyncIterator

from adrf.views import APIView as AsyncAPIView
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.negotiation import AnswersInItsOwnType
from accounts.api.pagination import ApiPagination
from accounts.api.schema import errors
from accounts.models import ApiKey, ApiKeyScope
from chat import admission, answer_cache, moderation, selectors, services
from chat.api.schema import MESSAGE_CREATE_RESPONSES, UsageOutput
from chat.generation import engine
from chat.models import Conversation, Message
from chat.serializers import (
    ConversationDetailSerializer,
    ConversationExportSerializer,
    ConversationSerializer,
    MessageSerializer,
)
from core import structured
from core.db import in_db_thread
from core.errors import ServiceError

READ_CHAT = {"GET": ApiKeyScope.READ, "HEAD": ApiKeyScope.READ}
WRITE_CHAT = READ_CHAT | {"POST": ApiKeyScope.CHAT, "PATCH": ApiKeyScope.CHAT, "DELETE": ApiKeyScope.CHAT}


def preset_field(help_text: str) -> serializers.CharField:
    """A preset named by its slug, where a conversation may start on one."""
    return serializers.CharField(max_length=100, required=False, allow_null=True, default=None, help_text=help_text)


class ConversationListCreateView(APIView):
    required_scopes = WRITE_CHAT
    pagination_class = ApiPagination

    class ConversationCreateInput(serializers.Serializer):
        title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
        model = serializers.CharField(max_length=100, required=False, allow_null=True, default=None)
        documents_mode = serializers.ChoiceField(
            choices=Conversation.DocumentsMode.choices, default=Conversation.DocumentsMode.ALL
        )
        document_ids = serializers.ListField(child=serializers.UUIDField(), required=False, default=list)
        preset = preset_field("A preset's slug (GET /api/v1/presets/): the conversation keeps its current revision.")

    class ConversationListQuery(serializers.Serializer):
        q = serializers.CharField(required=False, default="", allow_blank=True, help_text="Search titles and messages")
        archived = serializers.BooleanField(
            required=False, allow_null=True, default=None, help_text="Only archived (true) or only active (false)"
        )

    @extend_schema(
        parameters=[ConversationListQuery],
        responses={200: ConversationSerializer(many=True), **errors(400)},
        summary="Your conversations, newest first",
    )
    def get(self, request: Request) -> Response:
        # Validated, not passed on raw: a NUL in ?q= reached Postgres and failed there as a 500.
        query = self.ConversationListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        conversations = selectors.conversation_list(user=request.user, **query.validated_data)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(conversations, request, view=self)
        return paginator.get_paginated_response(ConversationSerializer(page, many=True).data)

    @extend_schema(
        request=ConversationCreateInput,
        # 404: a document_ids entry you may not read, or a preset you may not use.
        responses={201: ConversationSerializer, **errors(404)},
        summary="Start a conversation",
    )
    def post(self, request: Request) -> Response:
        data = self.ConversationCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = services.conversation_create(owner=request.user, **data.validated_data)
        return Response(ConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)


class ConversationDetailView(APIView):
    required_scopes = WRITE_CHAT

    class ConversationUpdateInput(serializers.Serializer):
        title = serializers.CharField(max_length=200, required=False, allow_blank=True)
        archived = serializers.BooleanField(required=False)
        model = serializers.CharField(max_length=100, required=False)
        documents_mode = serializers.ChoiceField(choices=Conversation.DocumentsMode.choices, required=False)
        document_ids = serializers.ListField(child=serializers.UUIDField(), required=False)

    @extend_schema(responses=ConversationDetailSerializer, summary="One conversation, with the documents it uses")
    def get(self, request: Request, conversation_id: str) -> Response:
        conversation = selectors.access_conversation(request.user, conversation_id)
        chosen = [str(pk) for pk in conversation.documents.values_list("pk", flat=True)]
        return Response(ConversationSerializer(conversation).data | {"document_ids": chosen})

    @extend_schema(
        request=ConversationUpdateInput, responses=ConversationSerializer, summary="Rename, archive or switch model"
    )
    def patch(self, request: Request, conversation_id: str) -> Response:
        conversation = selectors.access_conversation(request.user, conversation_id)
        data = self.ConversationUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        conversation = services.conversation_update(conversation=conversation, **data.validated_data)
        return Response(ConversationSerializer(conversation).data)

    @extend_schema(responses={204: None}, summary="Delete a conversation and its messages")
    def delete(self, request: Request, conversation_id: str) -> Response:
        conversation = selectors.access_conversation(request.user, conversation_id)
        services.conversation_delete(conversation=conversation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConversationExportView(AnswersInItsOwnType):
    required_scopes = READ_CHAT

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=["json", "markdown"], default="json")],
        responses={
            200: ConversationExportSerializer,
            (200, "text/markdown"): OpenApiTypes.STR,
            **errors(400),
        },
        summary="Export a conversation as JSON or Markdown (a download: Content-Disposition: attachment)",
    )
    def get(self, request: Request, conversation_id: str) -> HttpResponse:
        conversation = selectors.access_conversation(request.user, conversation_id)
        export_format = request.query_params.get("format", "json")
        filename = f"conversation-{conversation.pk}"
        if export_format == "markdown":
            response = HttpResponse(
                selectors.conversation_markdown(conversation=conversation), content_type="text/markdown; charset=utf-8"
            )
            response["Content-Disposition"] = f'attachment; filename="{filename}.md"'
            return response
        if export_format != "json":
            raise ServiceError("invalid_format", "format must be 'json' or 'markdown'.")
        body = ConversationSerializer(conversation).data | {
            "messages": MessageSerializer(selectors.message_list(conversation=conversation), many=True).data
        }
        response = Response(body)
        response["Content-Disposition"] = f'attachment; filename="{filename}.json"'
        return response


class MessageListCreateView(AsyncAPIView):
    required_scopes = READ_CHAT | {"POST": ApiKeyScope.CHAT}
    pagination_class = ApiPagination

    class MessageCreateInput(serializers.Serializer):
        content = serializers.CharField(trim_whitespace=False, allow_blank=True)
        model = serializers.CharField(max_length=100, required=False, allow_null=True, default=None)
        stream = serializers.BooleanField(required=False, default=False)
        preset = preset_field(
            "On a conversation's first message: the preset it keeps from then on (409 once it has another)."
        )
        cache = serializers.BooleanField(
            required=False,
            allow_null=True,
            default=None,
            help_text="true: answer from the cache of your earlier answers when the request is the same; false: a "
            "fresh answer (Cache-Control: no-cache does the same).",
        )
        response_format = serializers.JSONField(
            required=False,
            allow_null=True,
            default=None,
            help_text="OpenAI's response_format: {'type': 'json_object'} or {'type': 'json_schema', 'json_schema': "
            "{'name', 'schema'}}. The answer is checked against it before it is shown; 422 if the model fails twice.",
        )

    @extend_schema(
        responses=MessageSerializer(many=True),
        summary="The messages of the conversation's current branch, oldest first (each with its versions)",
    )
    async def get(self, request: Request, conversation_id: str) -> Response:
        return await in_db_thread(_message_page)(request, conversation_id, self)

    @extend_schema(
        request=MessageCreateInput,
        responses=MESSAGE_CREATE_RESPONSES,
        summary="Send a message and get the answer (JSON, or Server-Sent Events with stream=true)",
    )
    async def post(self, request: Request, conversation_id: str) -> HttpResponse:
        conversation = await in_db_thread(selectors.access_conversation)(request.user, conversation_id)
        data = self.MessageCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        if data.validated_data["preset"]:
            conversation = await in_db_thread(services.conversation_preset_choose)(
                conversation=conversation, preset=data.validated_data["preset"]
            )
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        reply = await services.reply_start(
            # DRF's throttle counted the request already; the admission counts it as a model request.
            caller=admission.Caller(user=request.user, api_key=api_key, request_counted=True),
            conversation=conversation,
            content=data.validated_data["content"],
            model=data.validated_data["model"],
            subscribe=True,
            cache=data.validated_data["cache"],
            cache_control=request.headers.get("Cache-Control", ""),
            output_format=structured.parse_response_format(data.validated_data["response_format"]),
        )
        return await answer_response(reply, stream=data.validated_data["stream"])


async def answer_response(reply: services.Reply, *, stream: bool) -> HttpResponse:
    """The answer a POST started: streamed as Server-Sent Events, or awaited and returned whole (201; 502 or 422
    with the saved message when the model failed)."""
    running, events = reply.generation, reply.events
    if stream:
        response = StreamingHttpResponse(_sse(running, events), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # let proxies pass events through as they come
        return await answer_cache.with_cache_header(response, running)
    running.unsubscribe(events)
    await running.finished.wait()
    message = await in_db_thread(Message.objects.get)(pk=reply.turn.assistant_message.pk)
    body = MessageSerializer(message, context={"versions": reply.turn.versions}).data
    if message.status == Message.Status.FAILED:
        outcome = running.outcome
        code = outcome.error_code if outcome else "failed"
        failed = status.HTTP_422_UNPROCESSABLE_ENTITY if code == structured.FAILED_CODE else status.HTTP_502_BAD_GATEWAY
        return Response({"error": {"code": code, "message": message.error}, "message": body}, status=failed)
    return await answer_cache.with_cache_header(Response(body, status=status.HTTP_201_CREATED), running)


def _message_page(request: Request, conversation_id: str, view) -> Response:
    conversation = selectors.access_conversation(request.user, conversation_id)
    branch = selectors.branch_list(conversation=conversation)
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(branch.messages, request, view=view)
    data = MessageSerializer(page, many=True, context={"versions": branch.versions}).data
    return paginator.get_paginated_response(data)


async def _sse(running: engine.Generation, events: asyncio.Queue) -> AsyncIterator[str]:
    """The generation's events as Server-Sent Events, named like the websocket frames."""
    try:
        while (event := await events.get()) is not None:
            yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"
    finally:
        # A client that goes away only stops watching; the answer completes and is saved.
        running.unsubscribe(events)


class UsageView(APIView):
    @extend_schema(responses=UsageOutput, summary="Your token usage today and this month, by model")
    def get(self, request: Request) -> Response:
        return Response(selectors.usage_summary(user=request.user))


class MessageRatingView(APIView):
    """Thumbs up or down on an answer in your conversation; a thumbs down with a reason reports it to moderators."""

    required_scopes = {"PUT": ApiKeyScope.CHAT}

    class RatingInput(serializers.Serializer):
        rating = serializers.ChoiceField(choices=["up", "down"], allow_null=True, help_text="null takes it back")
        reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")

    class RatingOutput(serializers.Serializer):
        message_id = serializers.UUIDField()
        rating = serializers.ChoiceField(choices=["up", "down"], allow_null=True)
        reported = serializers.BooleanField(help_text="A thumbs down with a reason: sent to the moderators")

    @extend_schema(request=RatingInput, responses=RatingOutput, summary="Rate an answer")
    def put(self, request: Request, message_id: str) -> Response:
        data = self.RatingInput(data=request.data)
        data.is_valid(raise_exception=True)
        message = moderation.access_answer(request.user, message_id)
        rating, reason = data.validated_data["rating"], data.validated_data["reason"]
        moderation.rating_set(user=request.user, message=message, rating=rating, reason=reason)
        reported = rating == "down" and bool(reason.strip())
        return Response({"message_id": str(message.pk), "rating": rating, "reported": reported})
