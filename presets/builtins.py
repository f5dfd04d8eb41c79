"""The built-in presets exist on every installation: made by the data migration, remade if missing after a flush."""

from django.db import transaction

from presets.builtin_prompts import BUILTINS
from presets.models import Preset, PresetRevision


def create_builtins(preset_model, revision_model) -> None:
    """Each missing built-in with its first revision (models passed in, so the data migration can use its own)."""
    for spec in BUILTINS:
        if preset_model.objects.filter(slug=spec["slug"]).exists():
            continue
        preset = preset_model.objects.create(
            slug=spec["slug"],
            name=spec["name"],
            description=spec["description"],
            visibility="everyone",
            builtin=True,
        )
        revision = revision_model.objects.create(
            preset=preset,
            number=1,
            system_prompt=spec["system_prompt"],
            temperature=spec.get("temperature"),
            starter_prompts=spec["starter_prompts"],
        )
        preset.current = revision
        preset.save(update_fields=["current"])


def ensure_builtin_presets(**_signal_kwargs) -> None:
    with transaction.atomic():
        create_builtins(Preset, PresetRevision)
