"""Shapes of /api/v1/presets/: built by hand from the rows (``preset_data``), declared below for validation and the
OpenAPI schema. Documents appear only as far as the caller may read them."""

from rest_framework import serializers

from presets import validation
from presets.models import Preset, PresetRevision


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def revision_data(revision: PresetRevision) -> dict:
    return {
        "number": revision.number,
        "base_model": revision.base_model,
        "system_prompt": revision.system_prompt,
        "temperature": revision.temperature,
        "top_p": revision.top_p,
        "max_tokens": revision.max_tokens,
        "web_links": revision.web_links,
        "output_format": revision.output_format,
        "starter_prompts": revision.starter_prompts,
        "locked": revision.locked,
        "documents": [{"id": str(d.pk), "title": d.title} for d in getattr(revision, "readable_documents", [])],
        "author": revision.author.username if revision.author_id else None,
        "created_at": _iso(revision.created_at),
    }


def preset_data(preset: Preset, *, editable: bool) -> dict:
    return {
        "id": preset.pk,
        "slug": preset.slug,
        "model": preset.model_name,
        "name": preset.name,
        "description": preset.description,
        "owner": preset.owner.username if preset.owner_id else None,
        "builtin": preset.builtin,
        "visibility": preset.visibility,
        "group_id": preset.shared_group_id,
        "shared_group": preset.shared_group.name if preset.shared_group_id else None,
        "editable": editable,
        "current": revision_data(preset.current) if preset.current else None,
        "created_at": _iso(preset.created_at),
        "updated_at": _iso(preset.updated_at),
    }


class DocumentRef(serializers.Serializer):
    id = serializers.UUIDField()
    title = serializers.CharField()


class RevisionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    base_model = serializers.CharField(allow_blank=True, help_text="Empty: the service's default model.")
    system_prompt = serializers.CharField(allow_blank=True, help_text="A template (docs/presets.md).")
    temperature = serializers.FloatField(allow_null=True)
    top_p = serializers.FloatField(allow_null=True)
    max_tokens = serializers.IntegerField(allow_null=True)
    web_links = serializers.BooleanField()
    output_format = serializers.JSONField(allow_null=True, help_text="OpenAI's response_format; null: text.")
    starter_prompts = serializers.ListField(child=serializers.CharField())
    locked = serializers.BooleanField(help_text="Callers cannot change the instructions or parameters.")
    documents = DocumentRef(many=True, help_text="The knowledge, as far as you may read it.")
    author = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class PresetOutput(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    model = serializers.CharField(help_text="Its model name on /v1: preset/<slug>.")
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    owner = serializers.CharField(allow_null=True, help_text="null for a built-in preset.")
    builtin = serializers.BooleanField()
    visibility = serializers.ChoiceField(choices=Preset.Visibility.choices)
    group_id = serializers.IntegerField(allow_null=True)
    shared_group = serializers.CharField(allow_null=True)
    editable = serializers.BooleanField(help_text="You may change it (yours; admins: the built-ins).")
    current = RevisionOutput(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class PresetDetailOutput(PresetOutput):
    revisions = RevisionOutput(many=True, help_text="Newest first; every edit made one.")


class PresetInput(serializers.Serializer):
    """A new preset, or (every field optional) the changes to one; a setting's change makes a new revision."""

    name = serializers.CharField(max_length=100)
    slug = serializers.CharField(
        max_length=64, required=False, allow_blank=True, help_text="Made from the name when empty; cannot change."
    )
    description = serializers.CharField(max_length=500, required=False, allow_blank=True)
    visibility = serializers.ChoiceField(choices=Preset.Visibility.choices, required=False)
    group_id = serializers.IntegerField(required=False, allow_null=True, help_text="With visibility 'group'.")
    document_ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, max_length=validation.MAX_DOCUMENTS
    )
    base_model = serializers.CharField(max_length=100, required=False, allow_blank=True)
    system_prompt = serializers.CharField(
        max_length=validation.MAX_SYSTEM_PROMPT_CHARS, required=False, allow_blank=True, trim_whitespace=False
    )
    temperature = serializers.FloatField(min_value=0, max_value=2, required=False, allow_null=True)
    top_p = serializers.FloatField(min_value=0, max_value=1, required=False, allow_null=True)
    max_tokens = serializers.IntegerField(
        min_value=1, max_value=validation.MAX_TOKENS_RANGE[1], required=False, allow_null=True
    )
    web_links = serializers.BooleanField(required=False)
    output_format = serializers.JSONField(required=False, allow_null=True)
    starter_prompts = serializers.ListField(
        child=serializers.CharField(max_length=validation.MAX_STARTER_PROMPT_CHARS),
        required=False,
        max_length=validation.MAX_STARTER_PROMPTS,
    )
    locked = serializers.BooleanField(required=False)


class DuplicateInput(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
