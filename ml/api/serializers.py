"""Shapes of /api/v1/ml/: built by hand from the rows (``model_data``), declared below for validation and the
OpenAPI schema."""

from rest_framework import serializers

from ml.models import ModelVersion, RegisteredModel


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def version_data(version: ModelVersion, totals: dict[int, dict[str, int]], aliases: list[str]) -> dict:
    return {
        "number": version.number,
        "aliases": aliases,
        "input_format": version.input_format,
        "input_schema": version.input_schema,
        "output": version.output,
        "metrics": version.metrics,
        "training_rows": version.training_rows,
        "source": version.source,
        "sha256": version.sha256,
        "sklearn_version": version.sklearn_version,
        "skops_version": version.skops_version,
        "python_version": version.python_version,
        "created_by": version.created_by.username if version.created_by_id else None,
        "created_at": _iso(version.created_at),
        "predictions": totals.get(version.pk, {"requests": 0, "rows": 0}),
    }


def model_data(model: RegisteredModel, totals: dict[int, dict[str, int]]) -> dict:
    aliases = list(model.aliases.all())
    return {
        "name": model.name,
        "description": model.description,
        "kind": model.kind,
        "builtin": model.builtin,
        "aliases": {alias.name: alias.version.number for alias in aliases},
        "versions": [
            version_data(version, totals, [alias.name for alias in aliases if alias.version_id == version.pk])
            for version in model.versions.all()
        ],
    }


class Counts(serializers.Serializer):
    requests = serializers.IntegerField()
    rows = serializers.IntegerField()


class VersionOutput(serializers.Serializer):
    number = serializers.IntegerField()
    aliases = serializers.ListField(child=serializers.CharField(), help_text="The aliases that name this version.")
    input_format = serializers.ChoiceField(choices=ModelVersion.InputFormat.choices)
    input_schema = serializers.JSONField(help_text="The fields a prediction's inputs have (docs/ml.md).")
    output = serializers.JSONField()
    metrics = serializers.JSONField(help_text="Measured on a held-out split when it was trained.")
    training_rows = serializers.IntegerField(allow_null=True)
    source = serializers.ChoiceField(choices=ModelVersion.Source.choices)
    sha256 = serializers.CharField()
    sklearn_version = serializers.CharField()
    skops_version = serializers.CharField()
    python_version = serializers.CharField(allow_blank=True)
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    predictions = Counts(help_text="Predictions made with this version, all days together.")


class ModelOutput(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    kind = serializers.ChoiceField(choices=RegisteredModel.Kind.choices)
    builtin = serializers.BooleanField()
    aliases = serializers.DictField(child=serializers.IntegerField(), help_text="Alias → version number.")
    versions = VersionOutput(many=True, help_text="Newest first.")


class PredictInput(serializers.Serializer):
    inputs = serializers.JSONField(help_text="One row ({field: value}) or a list of rows, fields as input_schema says.")


class PredictOutput(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField()
    alias = serializers.CharField(allow_null=True, help_text="The alias that chose the version; null: the newest.")
    predictions = serializers.ListField(
        child=serializers.DictField(),
        help_text="One per row: {<output name>: value}, with probabilities per label for a classifier.",
    )
