"""The preset editor's form (the Presets page). It only shapes input: the services check every rule (the same ones
the REST API and the admin meet) and their refusals come back as this form's field errors."""

import json

from django import forms

from accounts.models import User
from accounts.permissions import can_share_presets
from documents.models import Document
from documents.selectors import document_list, readable_q
from presets import validation
from presets.models import Preset

OUTPUT_CHOICES = [("text", "Text"), ("json_object", "A JSON object"), ("json_schema", "JSON matching a schema")]
# The form's values the services take, by the services' names (output_kind and output_schema make output_format).
SERVICE_ARGUMENTS = (
    "name",
    "slug",
    "description",
    "base_model",
    "system_prompt",
    "temperature",
    "top_p",
    "max_tokens",
    "document_ids",
    "web_links",
    "output_format",
    "starter_prompts",
    "locked",
    "visibility",
    "group_id",
)
SECTIONS = (
    ("About", ("name", "slug", "description")),
    (
        "How it answers",
        (
            "base_model",
            "system_prompt",
            "temperature",
            "top_p",
            "max_tokens",
            "output_kind",
            "output_schema",
            "starter_prompts",
            "locked",
        ),
    ),
    ("Knowledge", ("document_ids", "web_links")),
    ("Sharing", ("visibility", "group_id")),
)
# The editor lists this many of the newest documents the author may read (the REST API takes any of them).
DOCUMENT_CHOICES_LIMIT = 200


class PresetForm(forms.Form):
    name = forms.CharField(max_length=100)
    slug = forms.CharField(
        label="Short name",
        max_length=64,
        required=False,
        help_text="Its API model name is preset/&lt;short name&gt;. Empty: made from the name. It cannot change.",
    )
    description = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2}))
    base_model = forms.ChoiceField(label="Model", required=False)
    system_prompt = forms.CharField(
        label="Instructions (system prompt)",
        required=False,
        strip=False,
        max_length=validation.MAX_SYSTEM_PROMPT_CHARS,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="You may use {user_name}, {username}, {today}, {weekday} and {preset_name}.",
    )
    temperature = forms.FloatField(
        required=False, min_value=0, max_value=validation.TEMPERATURE_RANGE[1], help_text="0–2; empty: the default."
    )
    top_p = forms.FloatField(required=False, min_value=0, max_value=1, help_text="0–1; empty: the default.")
    max_tokens = forms.IntegerField(
        label="Longest answer, in tokens", required=False, min_value=1, max_value=validation.MAX_TOKENS_RANGE[1]
    )
    document_ids = forms.MultipleChoiceField(
        label="Knowledge",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Answers are grounded in these documents. Each person using the preset sees only those they may "
        "read themselves.",
    )
    web_links = forms.BooleanField(label="Read links pasted in messages", required=False, initial=True)
    output_kind = forms.ChoiceField(label="Answer format", choices=OUTPUT_CHOICES, initial="text")
    output_schema = forms.CharField(
        label="JSON schema",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="For “JSON matching a schema”: a JSON Schema object.",
    )
    starter_prompts = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"One per line, at most {validation.MAX_STARTER_PROMPTS}; shown on a new chat.",
    )
    locked = forms.BooleanField(
        label="Locked: people using it cannot change the instructions or parameters", required=False
    )
    visibility = forms.ChoiceField(label="Shared with", choices=Preset.Visibility.choices)
    group_id = forms.TypedChoiceField(
        label="Group", required=False, coerce=int, empty_value=None, help_text="With “A group”: one of yours."
    )

    def __init__(
        self, *args: object, user: User, models: list[str], preset: Preset | None = None, **kwargs: object
    ) -> None:
        super().__init__(*args, **kwargs)
        if preset is not None:  # its model name (preset/<slug>) is what clients use: it never changes
            del self.fields["slug"]
        self.fields["base_model"].choices = [("", f"Default ({models[0]})" if models else "Default")] + [
            (name, name) for name in models
        ]
        self.fields["document_ids"].choices = _document_choices(user, preset)
        if not self.fields["document_ids"].choices:
            self.fields["document_ids"].help_text = "No ready documents yet: upload some on the Documents page."
        self.fields["group_id"].choices = [("", "—")] + [(g.pk, g.name) for g in user.groups.order_by("name")]
        if not can_share_presets(user):
            self.fields["visibility"].choices = [(Preset.Visibility.PRIVATE, Preset.Visibility.PRIVATE.label)]
            self.fields["visibility"].help_text = "Your role does not allow sharing presets."

    def sections(self) -> list[tuple[str, list[forms.BoundField]]]:
        """The editor's fields under headings (the template draws one fieldset each)."""
        return [(title, [self[name] for name in names if name in self.fields]) for title, names in SECTIONS]

    def clean_starter_prompts(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["starter_prompts"].splitlines()]
        return [line for line in lines if line]

    def clean(self) -> dict:
        data = super().clean()
        data["output_format"] = self._output_format(data.get("output_kind"), data.get("output_schema") or "")
        return data

    def _output_format(self, kind: str | None, schema_text: str) -> dict | None:
        if kind == "json_object":
            return {"type": "json_object"}
        if kind != "json_schema":
            return None
        try:
            schema = json.loads(schema_text or "{}")
        except json.JSONDecodeError as exc:
            self.add_error("output_schema", f"This is not valid JSON ({exc.msg}, line {exc.lineno}).")
            return None
        return {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}}

    def service_values(self) -> dict:
        """The cleaned input as the services' keyword arguments."""
        return {name: self.cleaned_data[name] for name in SERVICE_ARGUMENTS if name in self.cleaned_data}


def _document_choices(user: User, preset: Preset | None) -> list[tuple[str, str]]:
    """The newest documents ``user`` may read, and those of the preset's they may read (so an edit keeps them)."""
    documents = list(document_list(user=user, status=Document.Status.READY)[:DOCUMENT_CHOICES_LIMIT])
    if preset is not None and preset.current is not None:
        documents += list(preset.current.documents.filter(readable_q(user)))
    return [(str(d.pk), d.title) for d in dict.fromkeys(documents)]


def initial_for(preset: Preset) -> dict:
    """The editor's fields filled from ``preset`` and its current revision."""
    current = preset.current
    output = current.output_format if current else None
    kind = (output or {}).get("type", "text")
    schema = (output or {}).get("json_schema", {}).get("schema") if kind == "json_schema" else None
    initial = {
        "name": preset.name,
        "description": preset.description,
        "visibility": preset.visibility,
        "group_id": preset.shared_group_id,
        "output_kind": kind,
        "output_schema": json.dumps(schema, indent=2) if schema is not None else "",
    }
    if current is None:
        return initial
    return initial | {
        "base_model": current.base_model,
        "system_prompt": current.system_prompt,
        "temperature": current.temperature,
        "top_p": current.top_p,
        "max_tokens": current.max_tokens,
        "document_ids": [str(pk) for pk in current.documents.values_list("pk", flat=True)],
        "web_links": current.web_links,
        "starter_prompts": "\n".join(current.starter_prompts),
        "locked": current.locked,
    }
