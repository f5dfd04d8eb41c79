import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import can_share_documents, can_upload_documents
from accounts.policies import policy_for
from core.errors import ServiceError
from documents import reading, selectors, services
from documents.forms import LibraryFilterForm, ShareForm, UploadForm
from documents.models import Document
from documents.upload_handlers import storage_error


@login_required
@require_http_methods(["GET", "POST"])
def documents_page(request: HttpRequest) -> HttpResponse:
    form = UploadForm(request.POST or None, request.FILES or None)
    status = 200
    if (spool_failure := storage_error(request)) is not None:
        refusal = services.storage_refusal(spool_failure)
        form = UploadForm(request.POST)
        form.add_error("file", refusal.message)
        status = refusal.status
    elif request.method == "POST" and form.is_valid():
        status = _upload_each(request, form)
        if status == 200:
            return redirect("documents:list")
    elif form.errors:
        status = 400
    filters = LibraryFilterForm(request.GET)
    context = {
        "form": form,
        "filters": filters,
        "filtered": any(request.GET.get(name) for name in ("q", "status")),
        "documents": selectors.document_list(user=request.user, **filters.query()),
        "can_upload": can_upload_documents(request.user),
        "can_share": can_share_documents(request.user),
        "groups": request.user.groups.all(),
        "policy": policy_for(request.user),
        "row_template": _row_template(request),
    }
    return render(request, "documents/list.html", context, status=status)


def _upload_each(request: HttpRequest, form: UploadForm) -> int:
    """Each file on its own: the accepted ones are stored, each refusal is a form error naming its file. Returns the
    page's status: 200, or the first refusal's (a full disk is the server's fault, 507, not the form's)."""
    status = 200
    files = form.cleaned_data["file"]
    for upload in files:
        try:
            document = services.document_upload(owner=request.user, upload=upload)
        except ServiceError as exc:
            form.add_error("file", f"{upload.name}: {exc.message}" if len(files) > 1 else exc.message)
            status = exc.status if status == 200 else status
        else:
            messages.success(request, f"“{document.title}” uploaded; it is being read now.")
    return status


# Placeholders static/js/documents.js swaps for a new upload's id and title when it clones the row template.
ROW_TEMPLATE_ID = uuid.UUID(int=0)
ROW_TEMPLATE_TITLE = "__title__"


def _row_template(request: HttpRequest) -> Document:
    return Document(id=ROW_TEMPLATE_ID, owner=request.user, title=ROW_TEMPLATE_TITLE, status=Document.Status.QUEUED)


@login_required
@require_POST
def document_delete(request: HttpRequest, document_id: str) -> HttpResponse:
    try:
        document = selectors.access_own_document(request.user, document_id)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("documents:list")
    services.document_delete(document=document)
    messages.success(request, f"“{document.title}” deleted.")
    return redirect("documents:list")


@login_required
@require_POST
def document_share(request: HttpRequest, document_id: str) -> HttpResponse:
    form = ShareForm(request.POST)
    try:
        document = selectors.access_own_document(request.user, document_id)
        if not form.is_valid():
            raise ServiceError("invalid", "Choose who may read the document.")
        visibility, group_id = form.visibility_and_group()
        services.document_update(document=document, actor=request.user, visibility=visibility, group_id=group_id)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Sharing of “{document.title}” updated.")
    return redirect("documents:list")


@login_required
@require_POST
def document_retry(request: HttpRequest, document_id: str) -> HttpResponse:
    try:
        document = selectors.access_own_document(request.user, document_id)
        services.document_retry(document=document, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"“{document.title}” is queued to be read again.")
    return redirect("documents:list")


@login_required
@require_GET
def document_download(request: HttpRequest, document_id: str) -> FileResponse:
    document = selectors.access_document(request.user, document_id)
    return FileResponse(document.file.open("rb"), as_attachment=True, filename=document.filename)


@login_required
@require_GET
def document_read(request: HttpRequest, document_id: str) -> HttpResponse:
    """The document's text page by page, the passage ``?chunk=<id>`` (a citation's chunk) marked."""
    document = selectors.access_document(request.user, document_id)
    chunk = request.GET.get("chunk", "")
    chunk_id = int(chunk) if chunk.isascii() and chunk.isdigit() else None  # "²" is a digit int() refuses
    context = {"reading": reading.document_reading(document=document, chunk_id=chunk_id)}
    return render(request, "documents/read.html", context)


# The browser's own PDF viewer, in a tab or a frame of ours, with nothing else allowed: a PDF is untrusted content.
ORIGINAL_PDF_POLICY = "default-src 'none'; object-src 'self'; frame-ancestors 'self'"


@login_required
@require_GET
@xframe_options_sameorigin
def document_original(request: HttpRequest, document_id: str) -> HttpResponse:
    """A PDF shown in the browser (so ``#page=N`` opens it at a page); any other kind is downloaded."""
    document = selectors.access_document(request.user, document_id)
    if document.kind != Document.Kind.PDF:
        return redirect("documents:download", document_id=document.pk)
    response = FileResponse(document.file.open("rb"), filename=document.filename, content_type="application/pdf")
    # Set here, the site middleware leaves it alone (it only adds a policy to responses without one).
    response.headers["Content-Security-Policy"] = ORIGINAL_PDF_POLICY
    return response
