"""Presets in the admin: every preset readable by admins, with its revisions (read-only: they never change).

Admins edit the built-in presets here. The form shows the current revision's settings; saving goes through
``presets.services.preset_update``, so an edit becomes a new revision exactly as one made through the API does.
"""

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest

from accounts.admin_access import RoleGatedReadOnly
from accounts.permissions import can_edit_builtin_presets, can_manage_users
from core.errors import ServiceError
from documents.models import Document
from presets import services
from presets.models import Preset, PresetRevision

SETTINGS = services.REVISION_FIELDS


class PresetForm(forms.ModelForm):
    """The preset's own fields and, for editing, its current revision's settings."""

    base_model = forms.CharField(required=False, help_text="Empty: the default model.")
    system_prompt = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 12, "cols": 100}))
    temperature = forms.FloatField(required=False, min_value=0, max_value=2)
    top_p = forms.FloatField(required=False, min_value=0, max_value=1)
    max_tokens = forms.IntegerField(required=False, min_value=1)
    web_links = forms.BooleanField(required=False)
    output_format = forms.JSONField(required=False, help_text='Empty for text, or {"type": "json_object"} …')
    starter_prompts = forms.JSONField(required=False, help_text='A list, e.g. ["Summarize this"].')
    locked = forms.BooleanField(required=False)
    documents = forms.ModelMultipleChoiceField(queryset=Document.objects.all(), required=False)

    class Meta:
        model = Preset
        fields = ("name", "description")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.current if self.instance.pk else None
        if current is not None:
            for name in SETTINGS:
                self.fields[name].initial = getattr(current, name)
            self.fields["documents"].initial = list(current.documents.all())

    def clean(self) -> dict:
        cleaned = super().clean()
        revision = PresetRevision(**{name: cleaned.get(name) for name in SETTINGS if name in cleaned})
        revision.starter_prompts = revision.starter_prompts or []
        revision.web_links, revision.locked = bool(revision.web_links), bool(revision.locked)
        try:  # the model's validators, shown on the form's fields
            revision.full_clean(exclude=["preset", "number", "author"], validate_unique=False)
        except forms.ValidationError as exc:
            for field, errors in exc.message_dict.items():
                self.add_error(field if field in self.fields else None, errors)
        return cleaned


class RevisionInline(admin.TabularInline):
    model = PresetRevision
    fields = ("number", "created_at", "author", "base_model", "locked", "temperature", "top_p", "max_tokens", "prompt")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-number",)
    show_change_link = False

    @admin.display(description="system prompt")
    def prompt(self, revision: PresetRevision) -> str:
        return revision.system_prompt[:200]

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Preset)
class PresetAdmin(RoleGatedReadOnly, admin.ModelAdmin):
    form = PresetForm
    list_display = ("name", "slug", "builtin", "owner", "visibility", "shared_group", "revision", "updated_at")
    list_filter = ("builtin", "visibility")
    search_fields = ("name", "slug", "owner__username")
    list_select_related = ("owner", "shared_group", "current")
    # Sharing is the owner's (built-ins are everyone's; a role policy narrows them).
    readonly_fields = ("slug", "builtin", "owner", "visibility", "shared_group", "created_at", "updated_at")
    inlines = [RevisionInline]
    delete_if = staticmethod(can_manage_users)

    @admin.display(description="revision")
    def revision(self, preset: Preset) -> int | None:
        return preset.current.number if preset.current else None

    def get_fields(self, request: HttpRequest, obj=None) -> list[str]:
        own = ["name", "slug", "description", "builtin", "owner", "visibility", "shared_group"]
        editing = [*SETTINGS, "documents"] if self.has_change_permission(request, obj) else []
        return [*own, *editing, "created_at", "updated_at"]

    def has_change_permission(self, request: HttpRequest, obj: Preset | None = None) -> bool:
        # People's own presets are theirs to change (through the API); admins edit the service's built-ins.
        return can_edit_builtin_presets(request.user) and (obj is None or obj.builtin)

    def has_delete_permission(self, request: HttpRequest, obj: Preset | None = None) -> bool:
        return super().has_delete_permission(request, obj) and (obj is None or not obj.builtin)

    def save_model(self, request: HttpRequest, obj: Preset, form: PresetForm, change: bool) -> None:
        data = form.cleaned_data
        settings = {name: data.get(name) for name in SETTINGS}
        settings["starter_prompts"] = settings["starter_prompts"] or []
        settings["base_model"] = settings["base_model"] or ""
        try:
            services.preset_update(
                preset=Preset.objects.get(pk=obj.pk),
                actor=request.user,
                name=data["name"],
                description=data.get("description", ""),
                document_ids=[document.pk for document in data.get("documents") or []],
                **settings,
            )
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
