"""The Presets page: browse the presets you may use, create and edit yours (each save a new revision), share,
duplicate, delete, and start a chat on one. Thin over presets.services, like /api/v1/presets/."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.permissions import can_chat
from core.errors import ServiceError
from presets import selectors, services
from presets.forms import PresetForm, initial_for
from presets.models import Preset

# Where a service's refusal shows on the form: the fields it names that the form spells another way.
PARAM_FIELDS = {"output_format": "output_schema"}


@login_required
@require_GET
def presets_page(request: HttpRequest) -> HttpResponse:
    context = {"presets": selectors.preset_page_list(user=request.user), "can_create": can_chat(request.user)}
    return render(request, "presets/list.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def preset_new(request: HttpRequest) -> HttpResponse:
    form = _form(request, None, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            preset = services.preset_create(owner=request.user, **form.service_values())
        except ServiceError as exc:
            _refused(form, exc)
        else:
            messages.success(request, f"Preset “{preset.name}” created.")
            return redirect("presets:edit", slug=preset.slug)
    return _render_editor(request, form, None)


@login_required
@require_http_methods(["GET", "POST"])
def preset_edit(request: HttpRequest, slug: str) -> HttpResponse:
    preset = selectors.access_preset(request.user, slug)
    editable = selectors.can_edit(request.user, preset)
    if request.method == "POST" and not editable:
        messages.error(request, "Only the preset's owner can change it; duplicate it to make your own.")
        return redirect("presets:edit", slug=preset.slug)
    form = _form(request, preset, request.POST or None)
    for field in form.fields.values() if not editable else ():  # shown, not changed: the owner's to change
        field.disabled = True
    if request.method == "POST" and form.is_valid():
        try:
            before = preset.current_id
            services.preset_update(preset=preset, actor=request.user, **form.service_values())
        except ServiceError as exc:
            _refused(form, exc)
        else:
            saved = "saved as revision" if preset.current_id != before else "saved; its settings were unchanged, still"
            messages.success(request, f"Preset “{preset.name}” {saved} {preset.current.number}.")
            return redirect("presets:edit", slug=preset.slug)
    return _render_editor(request, form, preset, editable=editable)


@login_required
@require_POST
def preset_duplicate(request: HttpRequest, slug: str) -> HttpResponse:
    source = selectors.access_preset(request.user, slug)
    try:
        copy = services.preset_duplicate(preset=source, actor=request.user)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("presets:list")
    messages.success(request, f"“{copy.name}” is your own copy; change it as you like.")
    return redirect("presets:edit", slug=copy.slug)


@login_required
@require_POST
def preset_delete(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        preset = selectors.access_editable_preset(request.user, slug)
        services.preset_delete(preset=preset)
    except ServiceError as exc:
        messages.error(request, exc.message)
        return redirect("presets:edit", slug=slug)
    messages.success(request, f"Preset “{preset.name}” deleted; its conversations keep their messages.")
    return redirect("presets:list")


def _form(request: HttpRequest, preset: Preset | None, data: object) -> PresetForm:
    initial = initial_for(preset) if preset is not None else None
    models = selectors.base_model_choices(request.user)
    return PresetForm(data, initial=initial, user=request.user, models=models, preset=preset)


def _refused(form: PresetForm, exc: ServiceError) -> None:
    field = PARAM_FIELDS.get(exc.param or "", exc.param)
    form.add_error(field if field in form.fields else None, exc.message)


def _render_editor(
    request: HttpRequest, form: PresetForm, preset: Preset | None, *, editable: bool = True
) -> HttpResponse:
    history = selectors.revision_history(user=request.user, preset=preset) if preset is not None else []
    context = {
        "form": form,
        "preset": preset,
        "editable": editable,
        "usable": preset is None or selectors.may_use(request.user, preset),
        "revisions": history,
    }
    return render(request, "presets/edit.html", context, status=400 if form.errors else 200)
