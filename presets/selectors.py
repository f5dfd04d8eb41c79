"""Reads for presets. Who may see a preset: its owner, everyone for ``everyone`` (the built-ins among them), the
members of its group for ``group``. Who may change one: its owner; admins for the built-ins."""

import uuid

from django.db.models import Prefetch, Q, QuerySet

from accounts.models import User
from accounts.permissions import NotFound, can_chat, can_edit_builtin_presets
from accounts.policies import Policy, policy_for
from core.errors import ServiceError
from documents.models import Document
from documents.selectors import group_ids, readable_q
from presets.models import MODEL_PREFIX, Preset, PresetRevision
from presets.usage import PresetUse, use_of
from presets.validation import configured_model_names

HISTORY_LIMIT = 50


def visible_q(user: User) -> Q:
    return (
        Q(owner=user)
        | Q(visibility=Preset.Visibility.EVERYONE)
        | Q(visibility=Preset.Visibility.GROUP, shared_group__in=group_ids(user))
    )


def _ref_q(ref: object) -> Q:
    """A preset by id (digits) or by slug (slugs start with a letter, so the two never meet)."""
    text = str(ref).strip()
    return Q(pk=int(text)) if text.isdigit() and len(text) < 19 else Q(slug=text)


def _readable_documents(user: User, path: str) -> Prefetch:
    """A revision's documents as ``user`` sees them (``readable_documents``): a shared preset shows nobody the
    title of a document they could not open themselves."""
    readable = Document.objects.filter(readable_q(user)).only("id", "title", "status").order_by("title")
    return Prefetch(path, queryset=readable, to_attr="readable_documents")


def _visible(user: User) -> QuerySet[Preset]:
    return (
        Preset.objects.filter(visible_q(user))
        .select_related("owner", "shared_group", "current")
        .prefetch_related(_readable_documents(user, "current__documents"))
    )


def access_preset(user: User, ref: object) -> Preset:
    """A preset ``user`` may see, by id or slug; NotFound otherwise, whether it exists or not."""
    preset = _visible(user).filter(_ref_q(ref)).first()
    if preset is None:
        raise NotFound(f"No preset {ref}.")
    return preset


def can_edit(user: User, preset: Preset) -> bool:
    if preset.builtin:
        return can_edit_builtin_presets(user)
    return preset.owner_id == user.pk


def access_editable_preset(user: User, ref: object) -> Preset:
    """A preset ``user`` may change; a shared one they may only use is a 403, anything else NotFound."""
    preset = access_preset(user, ref)
    if not can_edit(user, preset):
        raise ServiceError(
            "forbidden", "Only the preset's owner can change it; duplicate it to make your own.", status=403
        )
    return preset


def may_use(user: User, preset: Preset, policy: Policy | None = None) -> bool:
    """The role allows this preset and its base model (visibility is the caller's to have checked)."""
    policy = policy or policy_for(user)
    current = preset.current
    if current is None or not can_chat(user) or not policy.allows_preset(preset.slug):
        return False
    return policy.allows_model(current.base_model or configured_model_names()[0])


def preset_list(*, user: User) -> list[Preset]:
    """The presets ``user`` may use, built-ins first."""
    policy = policy_for(user)  # once: it reads the user's overrides
    return [preset for preset in _visible(user).order_by("-builtin", "name") if may_use(user, preset, policy)]


def preset_page_list(*, user: User) -> list[Preset]:
    """Every preset ``user`` can see, built-ins first, each marked ``usable`` (their role allows it and its model)
    and ``editable``: the Presets page shows their own even when the role keeps them from chatting with it."""
    policy = policy_for(user)
    presets = list(_visible(user).order_by("-builtin", "name"))
    for preset in presets:
        preset.usable, preset.editable = may_use(user, preset, policy), can_edit(user, preset)
    return presets


def base_model_choices(user: User) -> list[str]:
    """The models a preset of ``user``'s may be built on: those their role allows, the default first."""
    policy = policy_for(user)
    return [name for name in configured_model_names() if policy.allows_model(name)]


def usable_model_names(user: User) -> list[str]:
    return [preset.model_name for preset in preset_list(user=user)]


def revision_history(*, user: User, preset: Preset) -> list[PresetRevision]:
    """The preset's revisions, newest first (at most HISTORY_LIMIT), each with its ``readable_documents``."""
    revisions = preset.revisions.select_related("author").order_by("-number")
    return list(revisions.prefetch_related(_readable_documents(user, "documents"))[:HISTORY_LIMIT])


def _refused(user: User, preset: Preset, name: str) -> ServiceError | None:
    if not policy_for(user).allows_preset(preset.slug):
        return ServiceError("model_not_allowed", f"Your role may not use the preset {name!r}.", status=403)
    if preset.current is None:
        return ServiceError("model_not_found", f"The preset {name!r} has no settings yet.", status=404)
    return None


def preset_use(user: User, ref: object, *, param: str = "model") -> PresetUse:
    """The preset (by id, slug or ``preset/<slug>``) as ``user`` may use it now — visible, allowed by the role — at
    its current revision. Refusals name ``param``, the request field that named the preset."""
    name = str(ref)
    try:
        preset = access_preset(user, name.removeprefix(MODEL_PREFIX))
    except NotFound:
        raise ServiceError("model_not_found", f"No preset {name!r} you may use.", status=404, param=param) from None
    if (refusal := _refused(user, preset, name)) is not None:
        refusal.param = param
        raise refusal
    revision = preset.current
    revision.preset = preset
    return use_of(revision, user=user)


def revision_use(user: User, revision_id: int) -> PresetUse:
    """A conversation's preset revision (the one it started with) as ``user`` may use it now: its preset still
    visible to them and allowed by their role."""
    visible = Preset.objects.filter(visible_q(user))
    revision = PresetRevision.objects.filter(pk=revision_id, preset__in=visible).select_related("preset").first()
    if revision is None:
        message = "This conversation's preset is no longer shared with you; start a new conversation."
        raise ServiceError("preset_unavailable", message, status=403)
    if not policy_for(user).allows_preset(revision.preset.slug):
        message = f"Your role may not use the preset {revision.preset.slug!r} any more."
        raise ServiceError("model_not_allowed", message, status=403)
    return use_of(revision, user=user)


def is_preset_model(name: str | None) -> bool:
    return bool(name) and name.startswith(MODEL_PREFIX)


def still_usable(user: User, use: PresetUse) -> None:
    """The gate's check at every request: the preset is still visible to ``user`` and allowed by their role."""
    preset = Preset.objects.filter(visible_q(user), pk=use.preset_id).select_related("current").first()
    if preset is None:
        raise ServiceError(
            "model_not_found", f"The preset {use.model_name!r} is no longer shared with you.", status=404
        )
    if (refusal := _refused(user, preset, use.model_name)) is not None:
        raise refusal


def readable_knowledge(user: User, knowledge: tuple[uuid.UUID, ...]) -> list[uuid.UUID]:
    """Of a preset's documents, those ``user`` may read and that are ready: the intersection, in SQL."""
    ready = Document.objects.filter(readable_q(user), pk__in=knowledge, status=Document.Status.READY)
    return list(ready.values_list("pk", flat=True))
