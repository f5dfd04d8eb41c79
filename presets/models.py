"""Presets: saved modes (instructions, model, parameters, knowledge) people share and chat with.

A preset is its name, owner and sharing; what it does lives in its revisions. A revision is never changed: an edit
adds the next one and moves ``current``, so a conversation that started on revision 3 keeps answering as revision 3.
"""

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models

from presets import validation as checks

# A model name that names a preset on /v1: "preset/<slug>".
MODEL_PREFIX = "preset/"


class Preset(models.Model):
    class Visibility(models.TextChoices):
        PRIVATE = "private", "Only me"
        GROUP = "group", "A group"
        EVERYONE = "everyone", "Everyone"

    name = models.CharField(max_length=100, validators=[checks.validate_no_nul])
    # Unique across everyone: it is the preset's model name on /v1 ("preset/<slug>").
    slug = models.SlugField(max_length=64, unique=True, validators=[checks.validate_slug])
    description = models.CharField(max_length=500, blank=True, validators=[checks.validate_no_nul])
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="presets"
    )
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PRIVATE)
    shared_group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    builtin = models.BooleanField(default=False, help_text="Shipped with the service; only admins edit it.")
    current = models.ForeignKey(
        "PresetRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-builtin", "name"]
        indexes = [models.Index(fields=["visibility"])]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(visibility="group") | models.Q(shared_group__isnull=False),
                name="preset_group_visibility_names_a_group",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def model_name(self) -> str:
        return f"{MODEL_PREFIX}{self.slug}"


class PresetRevision(models.Model):
    """One immutable version of a preset (chat keeps the one a conversation started with)."""

    preset = models.ForeignKey(Preset, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    base_model = models.CharField(
        max_length=100, blank=True, validators=[checks.validate_base_model], help_text="Empty: the default model."
    )
    system_prompt = models.TextField(
        blank=True,
        validators=[MaxLengthValidator(checks.MAX_SYSTEM_PROMPT_CHARS), checks.validate_no_nul],
        help_text="A template: {user_name}, {username}, {today}, {weekday}, {preset_name} (docs/presets.md).",
    )
    temperature = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(checks.TEMPERATURE_RANGE[1])]
    )
    top_p = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(checks.TOP_P_RANGE[1])]
    )
    max_tokens = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(checks.MAX_TOKENS_RANGE[1])]
    )
    # The documents answers are grounded in, always intersected with what the asking user may read.
    documents = models.ManyToManyField("documents.Document", blank=True, related_name="+")
    web_links = models.BooleanField(default=True, help_text="Read links in the user's messages.")
    # OpenAI's response_format ({"type": "json_object"} or {"type": "json_schema", …}); null: text.
    output_format = models.JSONField(null=True, blank=True, validators=[checks.validate_output_format])
    starter_prompts = models.JSONField(default=list, blank=True, validators=[checks.validate_starter_prompts])
    locked = models.BooleanField(default=False, help_text="Users cannot change the instructions or parameters.")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["preset", "-number"]
        constraints = [models.UniqueConstraint(fields=["preset", "number"], name="preset_revision_unique_number")]

    def __str__(self) -> str:
        return f"{self.preset} r{self.number}"
