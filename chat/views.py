"""The chat pages. The page is rendered here; the conversation itself lives on the websocket (static/js/chat/)."""

import uuid

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.permissions import can_chat, can_fetch_web, can_upload_documents
from accounts.policies import policy_for
from chat import selectors, services
from chat.models import Conversation
from core.errors import ServiceError
from documents.models import Document
from documents.selectors import document_list
from documents.webpages import link_rules
from presets.selectors import preset_list, readable_knowledge

SIDEBAR_SIZE = 50
PLACEHOLDER_ID = uuid.UUID(int=0)


@login_required
@require_GET
def chat_home(request: HttpRequest) -> HttpResponse:
    """A new conversation, ready to type in: it is created with its first message (static/js/chat/composer.js)."""
    return render(request, "chat/chat.html", _context(request, None))


@login_required
@require_GET
def chat_conversation(request: HttpRequest, conversation_id: str) -> HttpResponse:
    conversation = selectors.access_conversation(request.user, conversation_id)
    return render(request, "chat/chat.html", _context(request, conversation))


@login_required
@require_POST
def chat_new(request: HttpRequest) -> HttpResponse:
    if not can_chat(request.user):
        raise PermissionDenied("Your account cannot chat.")
    try:
        conversation = services.conversation_create(
            owner=request.user, model=request.POST.get("model") or None, preset=request.POST.get("preset") or None
        )
    except ServiceError as exc:
        if exc.status == 403 and not request.POST.get("preset"):
            raise PermissionDenied(exc.message) from exc
        messages.error(request, exc.message)  # a preset no longer shared, or not for this role: say so, stay
        return redirect("chat:home")
    return redirect("chat:conversation", conversation_id=conversation.pk)


def _context(request: HttpRequest, conversation: Conversation | None) -> dict:
    return {
        "conversation": conversation,
        "conversations": selectors.conversation_list(user=request.user, archived=False)[:SIDEBAR_SIZE],
        "models": selectors.usable_models(request.user),
        "presets": preset_list(user=request.user),
        "documents_modes": Conversation.DocumentsMode.choices,
        "preset_documents": _preset_documents(request, conversation),
        # Pages build per-conversation URLs from {% url %} with this id in place of the real one (a new
        # conversation's id is known only once it is created).
        "placeholder_id": PLACEHOLDER_ID,
        "socket_url": f"/ws/chat/{PLACEHOLDER_ID}/",  # chat/routing.py: Channels routes are not reversible
        "events_url": "/ws/events/",  # accounts/routing.py: ingestion progress of the attached files
        "attached_documents": selectors.attached_documents(user=request.user, conversation=conversation),
        # The uploader's own limit, checked before sending a file; 0: this role may not upload.
        "upload_max_bytes": policy_for(request.user).max_upload_bytes if can_upload_documents(request.user) else 0,
        "link_rules": link_rules(),
        "can_fetch_web": can_fetch_web(request.user),
    }


def _preset_documents(request: HttpRequest, conversation: Conversation | None) -> int | None:
    """How many of the preset's documents this user may read (answers come from those, not the conversation's
    choice); None when the conversation has no preset or its preset names no documents."""
    revision = conversation.preset_revision if conversation is not None else None
    knowledge = tuple(revision.documents.values_list("pk", flat=True)) if revision is not None else ()
    return len(readable_knowledge(request.user, knowledge)) if knowledge else None


@login_required
@require_GET
def tasks_page(request: HttpRequest) -> HttpResponse:
    """Classify, summarize and extract: the forms call /api/v1/tasks/ (static/js/tasks.js)."""
    documents = document_list(user=request.user, status=Document.Status.READY)[:SIDEBAR_SIZE]
    return render(request, "chat/tasks.html", {"documents": documents})
