"""/api/v1/batches/: batch jobs for people and scripts that are not OpenAI SDKs.

Upload a table of prompts (CSV with a ``prompt`` column, optional ``id`` and ``system``, or JSONL), pick a model,
follow it (here, or live on ``/ws/events/`` as ``batch.progress``), cancel it, download the answers as CSV or JSONL
joined on the ids. It is the same batch as one made through ``/v1/batches`` (same rows, same runner, same limits):
both APIs see it.
"""

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.negotiation import AnswersInItsOwnType
from accounts.api.pagination import ApiPagination
from accounts.api.schema import errors
from accounts.models import ApiKeyScope
from batches import selectors, services, tables, tasks
from batches.serializers import BatchSerializer
from batches.validation import chat_model
from core.errors import ServiceError

READ = {"GET": ApiKeyScope.READ, "HEAD": ApiKeyScope.READ}
WRITE = READ | {"POST": ApiKeyScope.CHAT}
RESULT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/jsonl; charset=utf-8"}


class BatchListCreateView(APIView):
    required_scopes = WRITE
    parser_classes = [MultiPartParser, FormParser]
    pagination_class = ApiPagination

    class BatchUploadInput(serializers.Serializer):
        file = serializers.FileField(
            allow_empty_file=True,
            help_text="CSV with a 'prompt' column (optional 'id', 'system'), or JSONL: {prompt, id, system} objects "
            "or OpenAI batch request lines.",
        )
        model = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
        system = serializers.CharField(
            max_length=20_000, required=False, allow_blank=True, default="", help_text="For rows without their own."
        )
        max_tokens = serializers.IntegerField(min_value=1, max_value=32_768, required=False, allow_null=True)
        temperature = serializers.FloatField(min_value=0, max_value=2, required=False, allow_null=True)

    @extend_schema(responses={200: BatchSerializer(many=True)}, summary="Your batches, newest first")
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        batches = selectors.owned_batches(request.user).select_related("input_file")
        page = paginator.paginate_queryset(batches, request, view=self)
        return paginator.get_paginated_response(BatchSerializer(page, many=True).data)

    @extend_schema(
        request={"multipart/form-data": BatchUploadInput},
        responses={201: BatchSerializer, **errors(400, 403, 404, 413)},
        summary="Run a table of prompts as a batch (validated, then run in the background)",
    )
    def post(self, request: Request) -> Response:
        data = self.BatchUploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        model = chat_model(request.user, values["model"] or None)
        defaults = tables.Defaults(
            model=model,
            system=values["system"].strip(),
            max_tokens=values.get("max_tokens"),
            temperature=values.get("temperature"),
        )
        batch = services.batch_submit(owner=request.user, upload=values["file"], defaults=defaults)
        tasks.batch_start(batch.pk)
        return Response(BatchSerializer(batch).data, status=status.HTTP_201_CREATED)


class BatchDetailView(APIView):
    required_scopes = READ

    @extend_schema(responses={200: BatchSerializer, **errors(404)}, summary="One of your batches")
    def get(self, request: Request, batch_id: str) -> Response:
        return Response(BatchSerializer(services.access_batch(request.user, batch_id)).data)


class BatchCancelView(APIView):
    required_scopes = {"POST": ApiKeyScope.CHAT}

    @extend_schema(
        request=None,
        responses={200: BatchSerializer, **errors(404, 409)},
        summary="Cancel a batch: lines not yet run end cancelled; finished ones are kept",
    )
    def post(self, request: Request, batch_id: str) -> Response:
        return Response(BatchSerializer(services.batch_cancel(owner=request.user, batch_id=batch_id)).data)


class BatchResultsView(AnswersInItsOwnType):
    required_scopes = READ

    @extend_schema(
        parameters=[OpenApiParameter("format", str, enum=list(RESULT_TYPES), default="csv")],
        responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/jsonl"): OpenApiTypes.STR, **errors(400)},
        summary="Every line's answer (or why it has none), in input order, joined on your ids (a download)",
    )
    def get(self, request: Request, batch_id: str) -> HttpResponse:
        batch = services.access_batch(request.user, batch_id)
        result_format = request.query_params.get("format", "csv")
        if result_format not in RESULT_TYPES:
            raise ServiceError("invalid_format", "format must be 'csv' or 'jsonl'.", param="format")
        write = tables.results_csv if result_format == "csv" else tables.results_jsonl
        response = HttpResponse(write(batch), content_type=RESULT_TYPES[result_format])
        response["Content-Disposition"] = f'attachment; filename="{batch.id}_results.{result_format}"'
        return response
