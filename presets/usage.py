"""A preset as one request uses it: the revision's settings, its prompt filled in for the asking user.

Chat (websocket, REST) and ``/v1`` both build their request from a ``PresetUse``, so the rules live once: the preset's
system prompt goes first; a locked preset drops the caller's own system messages and parameters; otherwise the
caller's parameters win over the preset's defaults.
"""

import uuid
from dataclasses import dataclass, field

from accounts.models import User
from core import structured
from presets import templating
from presets.models import PresetRevision

# The caller's sampling fields a locked preset ignores: everything that changes how the answer is written.
SAMPLING_FIELDS = ("temperature", "top_p", "presence_penalty", "frequency_penalty", "seed", "stop")


@dataclass(frozen=True)
class PresetUse:
    preset_id: int
    slug: str
    name: str
    revision_id: int
    revision: int  # its number
    base_model: str  # "" for the default model
    system_prompt: str  # filled in for the user
    locked: bool
    web_links: bool
    sampling: dict = field(default_factory=dict)  # temperature / top_p the preset sets
    max_tokens: int | None = None
    output: structured.OutputFormat | None = None  # None: text
    # The revision's documents, or None when it names none (then the conversation's own choice applies).
    knowledge: tuple[uuid.UUID, ...] | None = None

    @property
    def model_name(self) -> str:
        return f"preset/{self.slug}"

    def messages(self, caller: list[dict]) -> list[dict]:
        """The caller's messages under the preset: its system prompt first; a locked one drops theirs."""
        kept = [m for m in caller if m["role"] != "system"] if self.locked else list(caller)
        if not self.system_prompt:
            return kept
        return [{"role": "system", "content": self.system_prompt}, *kept]

    def parameters(self, caller: dict) -> dict:
        if self.locked:
            return {k: v for k, v in caller.items() if k not in SAMPLING_FIELDS} | self.sampling
        return self.sampling | caller

    def answer_limit(self, caller: int | None) -> int | None:
        return self.max_tokens if self.locked else caller or self.max_tokens

    def output_for(self, caller: structured.OutputFormat | None) -> structured.OutputFormat | None:
        """The output format to use: the preset's when locked or when the caller asks for none."""
        return self.output if self.locked or caller is None else caller


def use_of(revision: PresetRevision, *, user: User) -> PresetUse:
    """``revision`` (with its preset) for ``user``; reads the revision's documents (one query)."""
    preset = revision.preset
    values = templating.values_for(user=user, preset_name=preset.name)
    sampling = {"temperature": revision.temperature, "top_p": revision.top_p}
    knowledge = tuple(revision.documents.values_list("pk", flat=True))
    return PresetUse(
        preset_id=preset.pk,
        slug=preset.slug,
        name=preset.name,
        revision_id=revision.pk,
        revision=revision.number,
        base_model=revision.base_model,
        system_prompt=templating.render(revision.system_prompt, values),
        locked=revision.locked,
        web_links=revision.web_links,
        sampling={k: v for k, v in sampling.items() if v is not None},
        max_tokens=revision.max_tokens,
        output=structured.parse_response_format(revision.output_format, "output_format"),
        knowledge=knowledge or None,
    )
