"""``/v1/files`` and ``/v1/batches``: OpenAI's Files and Batch APIs, for the unmodified ``openai`` SDK.

Plain async views like the rest of /v1: the API key (scope ``chat``, which chat completions and embeddings both
need) checked by the one gate, the work done by ``batches.files`` and ``batches.services`` on a database thread,
errors in OpenAI's shape. Everything is the key owner's own: another person's file or batch is a 404 like a missing one.
"""

from django.http import FileResponse, HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from accounts.models import ApiKeyScope, User
from batches import files, services, shapes, tasks
from chat import admission
from chat.openai_compat.request import json_object
from chat.openai_compat.views import openai_error, service_error
from core.db import in_db_thread
from core.errors import ServiceError


def _owner(request: HttpRequest) -> User:
    return admission.authenticate(
        admission.Caller(authorization=request.headers.get("Authorization")), scope=ApiKeyScope.CHAT
    )


def _limit(request: HttpRequest, default: int, highest: int) -> int:
    raw = request.GET.get("limit", str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= highest:
        raise ServiceError("invalid_value", f"'limit' must be an integer from 1 to {highest}.", param="limit")
    return int(raw)


def _not_allowed(request: HttpRequest) -> JsonResponse:
    return openai_error(405, f"{request.method} is not allowed here.", kind="invalid_request_error")


def _files(request: HttpRequest) -> JsonResponse:
    owner = _owner(request)
    if request.method == "POST":
        upload = request.FILES.get("file")
        created = files.file_create(owner=owner, upload=upload, purpose=request.POST.get("purpose"))
        return JsonResponse(files.file_data(created))
    order = request.GET.get("order", "desc")
    if order not in ("asc", "desc"):
        raise ServiceError("invalid_value", "'order' must be 'asc' or 'desc'.", param="order")
    page = files.file_page(
        owner=owner,
        after=request.GET.get("after"),
        limit=_limit(request, files.MAX_LIST, files.MAX_LIST),
        order=order,
        purpose=request.GET.get("purpose"),
    )
    return JsonResponse(page)


def _file(request: HttpRequest, file_id: str):
    owner = _owner(request)
    if request.method == "DELETE":
        return JsonResponse(files.file_delete(owner=owner, file_id=file_id))
    return JsonResponse(files.file_data(files.access_file(owner, file_id)))


def _file_content(request: HttpRequest, file_id: str) -> FileResponse:
    found = files.access_file(_owner(request), file_id)
    return FileResponse(found.file.open("rb"), content_type="application/jsonl", filename=found.filename)


def _batches(request: HttpRequest) -> JsonResponse:
    owner = _owner(request)
    if request.method == "POST":
        batch = services.batch_create(owner=owner, body=json_object(request.body))
        tasks.batch_start(batch.pk)
        return JsonResponse(shapes.batch_data(batch))
    return JsonResponse(shapes.batch_page(owner, after=request.GET.get("after"), limit=_limit(request, 20, 100)))


def _batch(request: HttpRequest, batch_id: str) -> JsonResponse:
    return JsonResponse(shapes.batch_data(services.access_batch(_owner(request), batch_id)))


def _batch_cancel(request: HttpRequest, batch_id: str) -> JsonResponse:
    return JsonResponse(shapes.batch_data(services.batch_cancel(owner=_owner(request), batch_id=batch_id)))


def _view(work, methods: tuple[str, ...]):
    @csrf_exempt
    async def view(request: HttpRequest, **kwargs):
        if request.method not in methods:
            return _not_allowed(request)
        try:
            return await in_db_thread(work)(request, **kwargs)
        except ServiceError as exc:
            response = service_error(exc)
            if exc.status == 409:
                response["x-should-retry"] = "false"  # a finished batch stays finished: the SDK must not retry
            return response

    return view


files_view = _view(_files, ("GET", "POST"))
file_view = _view(_file, ("GET", "DELETE"))
file_content_view = _view(_file_content, ("GET",))
batches_view = _view(_batches, ("GET", "POST"))
batch_view = _view(_batch, ("GET",))
batch_cancel_view = _view(_batch_cancel, ("POST",))
