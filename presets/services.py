"""Writes for presets: create, edit (a new revision), share, duplicate, delete."""

import uuid

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from accounts.models import User
from accounts.permissions import can_chat, can_share_presets, can_use_model
from core.errors import ServiceError
from documents.models import Document
from documents.selectors import readable_q
from presets import validation
from presets.models import Preset, PresetRevision

# What a revision holds besides its documents; an edit that changes any of these makes a new revision.
REVISION_FIELDS = (
    "base_model",
    "system_prompt",
    "temperature",
    "top_p",
    "max_tokens",
    "web_links",
    "output_format",
    "starter_prompts",
    "locked",
)


def _checked(instance: Preset | PresetRevision, *, exclude: list[str] | None = None) -> None:
    """The model's own validators (validation.py), as the one error type services raise."""
    try:
        instance.full_clean(exclude=exclude, validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        field, messages = next(iter(exc.message_dict.items()))
        param = None if field == "__all__" else field
        raise ServiceError("invalid", f"{field}: {messages[0]}" if param else messages[0], param=param) from None


def _free_slug(wanted: str, name: str) -> str:
    if wanted:
        if Preset.objects.filter(slug=wanted).exists():
            raise ServiceError("slug_taken", f"The slug {wanted!r} is taken; choose another.", status=409, param="slug")
        return wanted
    base = slugify(name)[:56].strip("-")
    base = base if validation.SLUG_PATTERN.match(base) else f"preset-{base}".strip("-")[:56]
    candidate, suffix = base, 2
    while Preset.objects.filter(slug=candidate).exists():
        candidate, suffix = f"{base}-{suffix}", suffix + 1
    return candidate


def _share(preset: Preset, actor: User, visibility: str, group_id: int | None) -> None:
    if visibility not in Preset.Visibility.values:
        choices = ", ".join(Preset.Visibility.values)
        raise ServiceError("invalid_visibility", f"visibility must be one of {choices}.", param="visibility")
    if visibility != Preset.Visibility.PRIVATE and not can_share_presets(actor):
        raise ServiceError("forbidden", "Your role does not allow sharing presets.", status=403)
    preset.visibility, preset.shared_group = visibility, None
    if visibility == Preset.Visibility.GROUP:
        group = actor.groups.filter(pk=group_id).first() if group_id else None
        if group is None:
            raise ServiceError("invalid_group", "Share with a group you belong to (group_id).", param="group_id")
        preset.shared_group = group


def _documents(actor: User, document_ids: list) -> list[Document]:
    """The documents to ground in: each one the author may read (a preset can only pass on what its author has)."""
    if len(document_ids) > validation.MAX_DOCUMENTS:
        message = f"A preset names at most {validation.MAX_DOCUMENTS} documents."
        raise ServiceError("too_many_documents", message, param="document_ids")
    wanted = []
    for raw in document_ids:
        try:
            wanted.append(uuid.UUID(str(raw)))
        except ValueError:
            raise ServiceError("invalid_document", f"{raw!r} is not a document id.", param="document_ids") from None
    found = {d.pk: d for d in Document.objects.filter(readable_q(actor), pk__in=wanted)}
    for document_id in wanted:
        if document_id not in found:
            message = f"No document {document_id} you may read."
            raise ServiceError("invalid_document", message, param="document_ids")
    return [found[document_id] for document_id in dict.fromkeys(wanted)]


def _add_revision(
    preset: Preset, *, author: User | None, values: dict, documents: list[Document] | None
) -> PresetRevision:
    """The preset's next revision: the current one's settings with ``values`` applied; documents carried over
    unless new ones are given. The preset row is locked, so two edits at once get distinct numbers."""
    current = Preset.objects.select_for_update().get(pk=preset.pk).current
    base = {name: getattr(current, name) for name in REVISION_FIELDS} if current else {}
    revision = PresetRevision(preset=preset, number=(current.number + 1) if current else 1, author=author)
    for name, value in (base | values).items():
        setattr(revision, name, value)
    revision.output_format = _output_format(revision.output_format)
    if author is not None and revision.base_model and not can_use_model(author, revision.base_model):
        message = f"Your role may not use the model {revision.base_model!r}."
        raise ServiceError("model_not_allowed", message, status=403, param="base_model")
    _checked(revision, exclude=["preset", "author"])
    revision.save()
    revision.documents.set(documents if documents is not None else (current.documents.all() if current else []))
    preset.current = revision
    preset.save(update_fields=["current", "updated_at"])
    return revision


def _output_format(value: object) -> dict | None:
    try:
        return validation.output_format(value)
    except ValidationError as exc:
        raise ServiceError("invalid_output_format", exc.messages[0], param="output_format") from None


@transaction.atomic
def preset_create(
    *,
    owner: User,
    name: str,
    slug: str = "",
    description: str = "",
    visibility: str = Preset.Visibility.PRIVATE,
    group_id: int | None = None,
    document_ids: list | None = None,
    **settings: object,
) -> Preset:
    """A new preset of ``owner``'s; ``settings`` are revision fields (REVISION_FIELDS)."""
    if not can_chat(owner):
        raise ServiceError("forbidden", "Your account cannot chat, so it cannot have presets.", status=403)
    _unknown(settings)
    preset = Preset(owner=owner, name=name.strip(), description=description.strip())
    preset.slug = _free_slug(slug.strip(), preset.name)
    _share(preset, owner, visibility, group_id)
    _checked(preset, exclude=["owner", "current"])
    try:
        with transaction.atomic():
            preset.save()
    except IntegrityError:  # the same slug, chosen at the same moment by someone else
        raise ServiceError(
            "slug_taken", "That slug was just taken; choose another.", status=409, param="slug"
        ) from None
    _add_revision(preset, author=owner, values=settings, documents=_documents(owner, document_ids or []))
    return preset


def _unknown(settings: dict) -> None:
    for name in settings:
        if name not in REVISION_FIELDS:
            raise ServiceError("unknown_field", f"Presets have no setting {name!r}.", param=name)


@transaction.atomic
def preset_update(
    *,
    preset: Preset,
    actor: User,
    name: str | None = None,
    description: str | None = None,
    visibility: str | None = None,
    group_id: int | None = None,
    document_ids: list | None = None,
    **settings: object,
) -> Preset:
    """Rename or share the preset; any setting (or the documents) makes a new revision, the old ones stay."""
    _unknown(settings)
    if name is not None:
        preset.name = name.strip()
    if description is not None:
        preset.description = description.strip()
    if visibility is not None:
        _share(preset, actor, visibility, group_id)
    _checked(preset, exclude=["owner", "current", "slug"])
    preset.save(update_fields=["name", "description", "visibility", "shared_group", "updated_at"])
    if "output_format" in settings:  # compared as stored, so a format sent again unchanged is no edit
        settings["output_format"] = _output_format(settings["output_format"])
    current = preset.current
    changed = {k: v for k, v in settings.items() if current is None or getattr(current, k) != v}
    documents = _documents(actor, document_ids) if document_ids is not None else None
    if documents is not None and current is not None and {d.pk for d in documents} == set(_document_ids(current)):
        documents = None
    if changed or documents is not None:
        _add_revision(preset, author=actor, values=changed, documents=documents)
    return preset


def _document_ids(revision: PresetRevision) -> list[uuid.UUID]:
    return list(revision.documents.values_list("pk", flat=True))


@transaction.atomic
def preset_duplicate(*, preset: Preset, actor: User, name: str = "") -> Preset:
    """A private copy of ``preset``'s current revision for ``actor``, with only the documents they may read."""
    current = preset.current
    settings = {field: getattr(current, field) for field in REVISION_FIELDS} if current else {}
    readable = list(current.documents.filter(readable_q(actor)).values_list("pk", flat=True)) if current else []
    return preset_create(
        owner=actor,
        name=name.strip() or f"{preset.name} (copy)"[:100],
        description=preset.description,
        document_ids=readable,
        **settings,
    )


def preset_delete(*, preset: Preset) -> None:
    """Conversations that used it keep their messages and go on without it."""
    if preset.builtin:
        raise ServiceError(
            "forbidden", "Built-in presets cannot be deleted; a role policy can hide them instead.", status=403
        )
    preset.delete()
