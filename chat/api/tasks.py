"""Task endpoints under /api/v1/tasks/: classify, summarize, extract, and the saved label sets. Thin: validate,
pick the source, call chat.nlp_tasks, shape the answer."""

from adrf.views import APIView as AsyncAPIView
from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.schema import errors
from accounts.models import ApiKey, ApiKeyScope
from chat import admission
from chat.api.schema import ServerSentEvent
from chat.models import LabelSet
from chat.nlp_tasks import classify, extract, label_sets, sources, summarize
from chat.nlp_tasks.calls import Asker
from core.db import in_db_thread
from core.errors import ServiceError

TASK_SCOPES = {"POST": ApiKeyScope.CHAT}
MODEL_HELP = "A configured model's name; the default model when absent."
TASK_ERRORS = errors(404, 409, 413, 422, 502, 503)  # 404: a document you may not read, or an unknown model


def _asker(request: Request, model: str | None) -> Asker:
    api_key = request.auth if isinstance(request.auth, ApiKey) else None
    # DRF's throttle counted the request already; the admission counts each model call as a model request.
    return Asker(admission.Caller(user=request.user, api_key=api_key, request_counted=True), model)


class TaskUsage(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()
    calls = serializers.IntegerField(help_text="Model calls this task made; each is recorded with its usage.")
    estimated = serializers.BooleanField()


class Origin(serializers.Serializer):
    pages = serializers.ListField(child=serializers.IntegerField())
    sections = serializers.ListField(child=serializers.CharField())
    chunks = serializers.ListField(child=serializers.IntegerField(), help_text="Chunk ordinals (or text pieces).")


class SourceInput(serializers.Serializer):
    text = serializers.CharField(required=False, trim_whitespace=False, allow_blank=True)
    document_id = serializers.UUIDField(required=False, help_text="A document you may read (instead of text).")
    model = serializers.CharField(max_length=100, required=False, allow_null=True, default=None, help_text=MODEL_HELP)


class ClassifyView(AsyncAPIView):
    required_scopes = TASK_SCOPES

    class ClassifyInput(serializers.Serializer):
        text = serializers.CharField(trim_whitespace=False, allow_blank=True)
        labels = serializers.ListField(child=serializers.CharField(allow_blank=True), required=False)
        label_set = serializers.CharField(max_length=100, required=False, help_text="The name of a saved label set.")
        model = serializers.CharField(max_length=100, required=False, allow_null=True, default=None)

    class ClassifyOutput(serializers.Serializer):
        label = serializers.CharField()
        scores = serializers.DictField(
            child=serializers.FloatField(),
            allow_null=True,
            help_text="Each label's probability from the model's token logprobs, summing to 1; null when the model "
            "server reports no logprobs.",
        )
        usage = TaskUsage()

    @extend_schema(request=ClassifyInput, responses={200: ClassifyOutput, **TASK_ERRORS}, summary="Classify a text")
    async def post(self, request: Request) -> Response:
        data = self.ClassifyInput(data=request.data)
        data.is_valid(raise_exception=True)
        labels = await in_db_thread(_labels)(request, data.validated_data)
        asker = _asker(request, data.validated_data["model"])
        return Response(await classify.classify(asker, text=data.validated_data["text"], labels=labels))


def _labels(request: Request, data: dict) -> list[str]:
    if ("labels" in data) == ("label_set" in data):
        raise ServiceError("invalid_labels", "Send either 'labels' or 'label_set' (one of them).", param="labels")
    if "label_set" in data:
        return label_sets.label_set_named(request.user, data["label_set"]).labels
    return classify.clean_labels(data["labels"])


class Citation(Origin):
    part = serializers.IntegerField()
    summary = serializers.CharField(help_text="This part's own summary: what the final summary was made from.")


class SummarizeOutput(serializers.Serializer):
    summary = serializers.CharField()
    citations = Citation(many=True)
    truncated = serializers.BooleanField(help_text="The document was longer than the task reads; its start was.")
    usage = TaskUsage()


SUMMARY_EVENTS = """With `"stream": true`: Server-Sent Events of the final call (after the partial summaries):
`delta` (`offset`, `text`) as it is written, then `summary` (the same object as without `stream`) or `error`
(`code`, `message`)."""


class SummarizeView(AsyncAPIView):
    required_scopes = TASK_SCOPES

    class SummarizeInput(SourceInput):
        max_words = serializers.IntegerField(required=False, allow_null=True, default=None, min_value=5, max_value=500)
        stream = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        request=SummarizeInput,
        responses={
            200: SummarizeOutput,
            (200, "text/event-stream"): OpenApiResponse(ServerSentEvent, description=SUMMARY_EVENTS),
            **TASK_ERRORS,
        },
        summary="Summarise a text or a document, with citations (map-reduce over long documents)",
    )
    async def post(self, request: Request) -> HttpResponse:
        data = self.SummarizeInput(data=request.data)
        data.is_valid(raise_exception=True)
        asker, given = _asker(request, data.validated_data["model"]), data.validated_data
        source = await sources.source_from(request.user, text=given.get("text"), document_id=given.get("document_id"))
        if not given["stream"]:
            return Response(await summarize.summarize(asker, source, given["max_words"]))
        plan = await summarize.prepare(asker, source, given["max_words"])
        reply = await summarize.start_final(asker, plan)  # refusals (quota, limits) still answer with their status
        response = StreamingHttpResponse(summarize.stream(plan, reply), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response


class ExtractView(AsyncAPIView):
    required_scopes = TASK_SCOPES

    class ExtractInput(SourceInput):
        schema = serializers.JSONField(help_text="A JSON Schema the data must match (bounded in size and depth).")

    class ExtractOutput(serializers.Serializer):
        data = serializers.JSONField(help_text="Valid against your schema.")
        truncated = serializers.BooleanField(help_text="Only the start of the source fitted; `read` says which part.")
        read = Origin()
        usage = TaskUsage()

    @extend_schema(
        request=ExtractInput, responses={200: ExtractOutput, **TASK_ERRORS}, summary="Extract data into a JSON Schema"
    )
    async def post(self, request: Request) -> Response:
        data = self.ExtractInput(data=request.data)
        data.is_valid(raise_exception=True)
        given = data.validated_data
        output = extract.output_format(given["schema"])
        source = await sources.source_from(request.user, text=given.get("text"), document_id=given.get("document_id"))
        return Response(await extract.extract(_asker(request, given["model"]), source, output))


class LabelSetSerializer(serializers.ModelSerializer):
    class Meta:
        model = LabelSet
        fields = ["id", "name", "labels", "created_at"]


class LabelSetListCreateView(APIView):
    required_scopes = {"GET": ApiKeyScope.READ, "HEAD": ApiKeyScope.READ, "POST": ApiKeyScope.CHAT}

    class LabelSetInput(serializers.Serializer):
        name = serializers.CharField(max_length=100)
        labels = serializers.ListField(child=serializers.CharField(allow_blank=True))

    @extend_schema(responses=LabelSetSerializer(many=True), summary="Your saved label sets")
    def get(self, request: Request) -> Response:
        return Response(LabelSetSerializer(label_sets.label_set_list(user=request.user), many=True).data)

    @extend_schema(
        request=LabelSetInput, responses={201: LabelSetSerializer, **errors(409)}, summary="Save a label set"
    )
    def post(self, request: Request) -> Response:
        data = self.LabelSetInput(data=request.data)
        data.is_valid(raise_exception=True)
        label_set = label_sets.label_set_create(owner=request.user, **data.validated_data)
        return Response(LabelSetSerializer(label_set).data, status=status.HTTP_201_CREATED)


class LabelSetDetailView(APIView):
    required_scopes = {"DELETE": ApiKeyScope.CHAT}

    @extend_schema(responses={204: None}, summary="Delete a saved label set")
    def delete(self, request: Request, label_set_id: int) -> Response:
        label_sets.label_set_delete(label_set=label_sets.access_label_set(request.user, label_set_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
