"""The Batches page. It is drawn by static/js/batches.js from /api/v1/batches/ and kept live by /ws/events/, so the
page and the API show one thing."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.permissions import can_chat
from chat.selectors import usable_models
from presets.selectors import preset_list

# The id static/js/batches.js swaps in for a batch's own in the URLs below, so they come from {% url %}.
ID_PLACEHOLDER = "batch_id_placeholder"


@login_required
@require_GET
def batches_page(request: HttpRequest) -> HttpResponse:
    context = {
        "models": usable_models(request.user),
        "presets": preset_list(user=request.user),
        "can_run": can_chat(request.user),
        "max_bytes": settings.BATCH_FILE_MAX_BYTES,
        "max_lines": settings.BATCH_FILE_MAX_LINES,
        "id_placeholder": ID_PLACEHOLDER,
    }
    return render(request, "batches/batches.html", context)
