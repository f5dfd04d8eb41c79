"""/api/v1/presets/: the presets you may use, yours to create, change (a new revision), share, duplicate, delete."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.pagination import ApiPagination
from accounts.api.schema import errors
from accounts.models import ApiKeyScope
from core.errors import ServiceError
from presets import selectors, services
from presets.api.serializers import (
    DuplicateInput,
    PresetDetailOutput,
    PresetInput,
    PresetOutput,
    preset_data,
    revision_data,
)
from presets.models import Preset

READ = {"GET": ApiKeyScope.READ, "HEAD": ApiKeyScope.READ}
WRITE = READ | {"POST": ApiKeyScope.CHAT, "PATCH": ApiKeyScope.CHAT, "DELETE": ApiKeyScope.CHAT}


def _row(request: Request, preset: Preset) -> dict:
    return preset_data(preset, editable=selectors.can_edit(request.user, preset))


def _detail(request: Request, ref: object) -> dict:
    """The preset as just read back (a write's answer shows what is stored, with the history)."""
    preset = selectors.access_preset(request.user, ref)
    history = selectors.revision_history(user=request.user, preset=preset)
    return _row(request, preset) | {"revisions": [revision_data(revision) for revision in history]}


class PresetListCreateView(APIView):
    required_scopes = WRITE
    pagination_class = ApiPagination

    @extend_schema(responses=PresetOutput(many=True), summary="The presets you may use, built-ins first")
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.preset_list(user=request.user), request, view=self)
        return paginator.get_paginated_response([_row(request, preset) for preset in page])

    @extend_schema(request=PresetInput, responses={201: PresetDetailOutput, **errors(409)}, summary="Create a preset")
    def post(self, request: Request) -> Response:
        data = PresetInput(data=request.data)
        data.is_valid(raise_exception=True)
        preset = services.preset_create(owner=request.user, **data.validated_data)
        return Response(_detail(request, preset.pk), status=status.HTTP_201_CREATED)


class PresetDetailView(APIView):
    required_scopes = WRITE

    @extend_schema(responses=PresetDetailOutput, summary="A preset (by id or slug) with its revision history")
    def get(self, request: Request, preset: str) -> Response:
        return Response(_detail(request, preset))

    @extend_schema(
        request=PresetInput(partial=True),
        responses=PresetDetailOutput,
        summary="Change a preset: rename, share, or change its settings (a new revision; conversations keep theirs)",
    )
    def patch(self, request: Request, preset: str) -> Response:
        found = selectors.access_editable_preset(request.user, preset)
        data = PresetInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        changes = dict(data.validated_data)
        if changes.pop("slug", found.slug) != found.slug:  # it is the preset's model name: clients depend on it
            raise ServiceError("slug_immutable", "A preset's slug cannot change; duplicate it instead.", param="slug")
        services.preset_update(preset=found, actor=request.user, **changes)
        return Response(_detail(request, found.pk))

    @extend_schema(responses={204: None}, summary="Delete your preset (its conversations go on without it)")
    def delete(self, request: Request, preset: str) -> Response:
        services.preset_delete(preset=selectors.access_editable_preset(request.user, preset))
        return Response(status=status.HTTP_204_NO_CONTENT)


class PresetDuplicateView(APIView):
    required_scopes = {"POST": ApiKeyScope.CHAT}

    @extend_schema(
        request=DuplicateInput,
        responses={201: PresetDetailOutput},
        summary="Copy a preset you can see into a private one of yours",
    )
    def post(self, request: Request, preset: str) -> Response:
        source = selectors.access_preset(request.user, preset)
        data = DuplicateInput(data=request.data)
        data.is_valid(raise_exception=True)
        copy = services.preset_duplicate(preset=source, actor=request.user, name=data.validated_data["name"])
        return Response(_detail(request, copy.pk), status=status.HTTP_201_CREATED)
