from adrf.views import APIView as AsyncAPIView
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.negotiation import AnswersInItsOwnType
from accounts.api.pagination import ApiPagination
from accounts.api.schema import errors
from accounts.models import ApiKeyScope
from accounts.permissions import can_fetch_web
from core.db import in_db_thread
from core.errors import ServiceError
from documents import retrieval, selectors, services, webpages
from documents.models import Document
from documents.upload_handlers import storage_error
from documents.validation import MEDIA_TYPES

READ = {"GET": ApiKeyScope.READ, "HEAD": ApiKeyScope.READ}
WRITE = READ | {"POST": ApiKeyScope.DOCUMENTS, "PATCH": ApiKeyScope.DOCUMENTS, "DELETE": ApiKeyScope.DOCUMENTS}


class DocumentSerializer(serializers.ModelSerializer):
    owner = serializers.CharField(source="owner.username", read_only=True)
    shared_group = serializers.CharField(source="shared_group.name", read_only=True, default=None, allow_null=True)

    class Meta:
        model = Document
        fields = [
            "id",
            "title",
            "filename",
            "kind",
            "size_bytes",
            "owner",
            "visibility",
            "shared_group",
            "status",
            "progress",
            "error",
            "pages",
            "chunk_count",
            "created_at",
            "ready_at",
        ]
        read_only_fields = fields


class DocumentListCreateView(APIView):
    required_scopes = WRITE
    parser_classes = [MultiPartParser, FormParser]
    pagination_class = ApiPagination

    class DocumentUploadInput(serializers.Serializer):
        file = serializers.FileField(allow_empty_file=True)
        title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    class DocumentListQuery(serializers.Serializer):
        mine = serializers.BooleanField(required=False, default=False, help_text="Only documents you own")
        status = serializers.ChoiceField(choices=Document.Status.choices, required=False, allow_blank=True, default="")
        q = serializers.CharField(required=False, allow_blank=True, default="", help_text="Text in the title or name")
        sort = serializers.ChoiceField(choices=list(selectors.SORTS), required=False, default="newest")

    @extend_schema(
        parameters=[DocumentListQuery],
        responses={200: DocumentSerializer(many=True), **errors(400)},
        summary="Documents you may read (yours and those shared with you)",
    )
    def get(self, request: Request) -> Response:
        query = self.DocumentListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        documents = selectors.document_list(
            user=request.user,
            mine_only=query.validated_data["mine"],
            status=query.validated_data["status"] or None,
            q=query.validated_data["q"],
            sort=query.validated_data["sort"],
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(documents, request, view=self)
        return paginator.get_paginated_response(DocumentSerializer(page, many=True).data)

    @extend_schema(
        request=DocumentUploadInput,
        responses={201: DocumentSerializer, **errors(409, 413)},
        summary="Upload a document (it is read in the background: poll its status)",
    )
    def post(self, request: Request) -> Response:
        data = self.DocumentUploadInput(data=request.data)
        if (spool_failure := storage_error(request)) is not None:
            raise services.storage_refusal(spool_failure)
        data.is_valid(raise_exception=True)
        document = services.document_upload(
            owner=request.user, upload=data.validated_data["file"], title=data.validated_data["title"]
        )
        return Response(DocumentSerializer(document).data, status=status.HTTP_201_CREATED)


class DocumentDetailView(APIView):
    required_scopes = WRITE

    class DocumentUpdateInput(serializers.Serializer):
        title = serializers.CharField(max_length=200, required=False)
        visibility = serializers.ChoiceField(choices=Document.Visibility.choices, required=False)
        group_id = serializers.IntegerField(required=False, allow_null=True)

    @extend_schema(responses=DocumentSerializer, summary="A document: status, progress, pages, chunks")
    def get(self, request: Request, document_id: str) -> Response:
        return Response(DocumentSerializer(selectors.access_document(request.user, document_id)).data)

    @extend_schema(request=DocumentUpdateInput, responses=DocumentSerializer, summary="Rename or share a document")
    def patch(self, request: Request, document_id: str) -> Response:
        document = selectors.access_own_document(request.user, document_id)
        data = self.DocumentUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        document = services.document_update(document=document, actor=request.user, **data.validated_data)
        return Response(DocumentSerializer(document).data)

    @extend_schema(responses={204: None}, summary="Delete a document, its file and its chunks")
    def delete(self, request: Request, document_id: str) -> Response:
        services.document_delete(document=selectors.access_own_document(request.user, document_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DocumentRetryView(APIView):
    required_scopes = {"POST": ApiKeyScope.DOCUMENTS}

    @extend_schema(
        request=None,
        responses={202: DocumentSerializer, **errors(403, 404, 409)},
        summary="Read a failed document again (it is queued: follow its status as after an upload)",
    )
    def post(self, request: Request, document_id: str) -> Response:
        document = selectors.access_own_document(request.user, document_id)
        document = services.document_retry(document=document, actor=request.user)
        return Response(DocumentSerializer(document).data, status=status.HTTP_202_ACCEPTED)


class DocumentDownloadView(AnswersInItsOwnType):
    required_scopes = READ

    @extend_schema(
        responses={
            (200, media_type): OpenApiResponse(
                OpenApiTypes.BINARY, description="The file as uploaded, as an attachment under its original name."
            )
            for media_type in MEDIA_TYPES.values()
        },
        summary="Download the original file",
    )
    def get(self, request: Request, document_id: str) -> FileResponse:
        document = selectors.access_document(request.user, document_id)
        return FileResponse(
            document.file.open("rb"),
            as_attachment=True,
            filename=document.filename,
            content_type=MEDIA_TYPES[document.kind],
        )


class SearchHit(serializers.Serializer):
    number = serializers.IntegerField(help_text="The rank, from 1.")
    kind = serializers.ChoiceField(choices=["document"])
    document_id = serializers.UUIDField()
    title = serializers.CharField()
    document_kind = serializers.ChoiceField(choices=Document.Kind.choices, help_text="The file's kind.")
    page = serializers.IntegerField(allow_null=True)
    chunk_id = serializers.IntegerField()
    heading_path = serializers.CharField(allow_blank=True)
    snippet = serializers.CharField(help_text="A window of the chunk around the first query word it contains.")
    text = serializers.CharField(help_text="The whole chunk, as the model would read it.")
    score = serializers.FloatField()


class SearchView(APIView):
    required_scopes = {"POST": ApiKeyScope.READ}

    class SearchInput(serializers.Serializer):
        query = serializers.CharField(max_length=2000)
        k = serializers.IntegerField(min_value=1, max_value=50, default=5)
        document_ids = serializers.ListField(child=serializers.UUIDField(), required=False, allow_empty=False)

    class SearchResults(serializers.Serializer):
        results = SearchHit(many=True, help_text="Best first.")

    @extend_schema(
        request=SearchInput,
        responses={200: SearchResults, **errors(404, 503)},  # 404: a document_ids entry you may not read
        summary="Hybrid search over your documents",
    )
    def post(self, request: Request) -> Response:
        data = self.SearchInput(data=request.data)
        data.is_valid(raise_exception=True)
        only = data.validated_data.get("document_ids")
        if only:
            only = selectors.readable_ready_ids(request.user, [str(d) for d in only])
        query = data.validated_data["query"]
        if not query.strip():
            raise ServiceError("empty_query", "Search for something.")
        hits = retrieval.search(user=request.user, query=query, k=data.validated_data["k"], document_ids=only)
        results = [
            hit.as_source(number, query) | {"text": hit.text, "score": round(hit.score, 6)}
            for number, hit in enumerate(hits, 1)
        ]
        return Response({"results": results})


class WebFetchView(AsyncAPIView):
    """Fetch a page through the same guard chat uses: for integrations."""

    required_scopes = {"POST": ApiKeyScope.READ}

    class WebFetchInput(serializers.Serializer):
        url = serializers.CharField(max_length=2000)

    class WebPageOutput(serializers.Serializer):
        url = serializers.CharField()
        final_url = serializers.CharField()
        title = serializers.CharField()
        text = serializers.CharField()
        content_type = serializers.CharField()
        truncated = serializers.BooleanField()
        cached = serializers.BooleanField()

    @extend_schema(
        request=WebFetchInput,
        responses={200: WebPageOutput, **errors(413, 422, 502, 504)},
        summary="Fetch a web page's title and main text",
    )
    async def post(self, request: Request) -> Response:
        data = self.WebFetchInput(data=request.data)
        data.is_valid(raise_exception=True)
        if not await in_db_thread(can_fetch_web)(request.user):
            raise ServiceError("forbidden", "Your role does not allow reading web pages.", status=403)
        result = await webpages.read_page(data.validated_data["url"])
        if result.refused is not None:
            raise ServiceError(result.refused.reason, result.refused.message, status=result.refused.status)
        page = result.page
        body = {
            "url": page.url,
            "final_url": page.final_url,
            "title": page.title,
            "text": page.text,
            "content_type": page.content_type,
            "truncated": page.truncated,
            "cached": result.cached,
        }
        return Response(body)
