"""Regenerate an answer, edit a question and resend, and switch between versions: the REST side of the
conversation tree (chat.branching). The same operations are websocket frames (docs/websocket.md)."""

from adrf.views import APIView as AsyncAPIView
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.schema import errors
from accounts.models import ApiKey, ApiKeyScope
from chat import admission, branching, selectors
from chat.api.schema import MESSAGE_CREATE_RESPONSES
from chat.api.views import answer_response
from chat.serializers import MessageSerializer
from core.db import in_db_thread


def _caller(request: Request) -> admission.Caller:
    api_key = request.auth if isinstance(request.auth, ApiKey) else None
    # DRF's throttle counted the request already; the admission counts it as a model request.
    return admission.Caller(user=request.user, api_key=api_key, request_counted=True)


class RegenerateView(AsyncAPIView):
    required_scopes = {"POST": ApiKeyScope.CHAT}

    class RegenerateInput(serializers.Serializer):
        model = serializers.CharField(max_length=100, required=False, allow_null=True, default=None)
        stream = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        request=RegenerateInput,
        responses={**MESSAGE_CREATE_RESPONSES, **errors(404)},
        summary="Answer the question an answer replied to again: a new version beside it (never from the cache)",
    )
    async def post(self, request: Request, conversation_id: str, message_id: str) -> HttpResponse:
        conversation = await in_db_thread(selectors.access_conversation)(request.user, conversation_id)
        data = self.RegenerateInput(data=request.data)
        data.is_valid(raise_exception=True)
        reply = await branching.reply_regenerate(
            caller=_caller(request),
            conversation=conversation,
            message_id=message_id,
            model=data.validated_data["model"],
            subscribe=True,
        )
        return await answer_response(reply, stream=data.validated_data["stream"])


class EditView(AsyncAPIView):
    required_scopes = {"POST": ApiKeyScope.CHAT}

    class EditInput(serializers.Serializer):
        content = serializers.CharField(trim_whitespace=False, allow_blank=True)
        model = serializers.CharField(max_length=100, required=False, allow_null=True, default=None)
        stream = serializers.BooleanField(required=False, default=False)
        cache = serializers.BooleanField(required=False, allow_null=True, default=None)

    @extend_schema(
        request=EditInput,
        responses={**MESSAGE_CREATE_RESPONSES, **errors(404)},
        summary="Ask a question again in other words: a new branch from the same point, the old one kept",
    )
    async def post(self, request: Request, conversation_id: str, message_id: str) -> HttpResponse:
        conversation = await in_db_thread(selectors.access_conversation)(request.user, conversation_id)
        data = self.EditInput(data=request.data)
        data.is_valid(raise_exception=True)
        reply = await branching.reply_edit(
            caller=_caller(request),
            conversation=conversation,
            message_id=message_id,
            content=data.validated_data["content"],
            model=data.validated_data["model"],
            subscribe=True,
            cache=data.validated_data["cache"],
        )
        return await answer_response(reply, stream=data.validated_data["stream"])


class BranchView(APIView):
    required_scopes = {"PUT": ApiKeyScope.CHAT}

    class BranchInput(serializers.Serializer):
        message_id = serializers.UUIDField(help_text="Any message: its branch is shown, following the newest replies.")

    class BranchOutput(serializers.Serializer):
        current_leaf_id = serializers.UUIDField()
        messages = MessageSerializer(many=True, help_text="The branch now shown, oldest first.")

    @extend_schema(
        request=BranchInput,
        responses={200: BranchOutput, **errors(404, 409)},
        summary="Show another version: the branch through a message becomes the one continued",
    )
    def put(self, request: Request, conversation_id: str) -> Response:
        conversation = selectors.access_conversation(request.user, conversation_id)
        data = self.BranchInput(data=request.data)
        data.is_valid(raise_exception=True)
        leaf = branching.branch_select(conversation=conversation, message_id=data.validated_data["message_id"])
        branch = selectors.branch_list(conversation=conversation)
        messages = MessageSerializer(branch.messages, many=True, context={"versions": branch.versions}).data
        return Response({"current_leaf_id": str(leaf), "messages": messages})
