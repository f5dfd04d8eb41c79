"""The ML models page: each model's versions with their metrics and aliases, and a form to try it (drawn from the
version's input schema; static/js/ml.js sends it to /api/v1/ml/<name>/predict/ with the session)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.permissions import can_manage_ml_models, can_predict
from core.errors import ServiceError
from ml import selectors
from ml.models import RegisteredModel
from ml.schema import parse_schema


def _try_version(model: RegisteredModel) -> None:
    """The version a prediction without an alias gets, and its fields, on ``model`` for the template."""
    model.try_version, model.try_fields = None, []
    try:
        model.try_version = selectors.resolve(model.name).version
        model.try_fields = parse_schema(model.try_version.input_schema)
    except ServiceError:
        return


@login_required
@require_GET
def ml_page(request: HttpRequest) -> HttpResponse:
    models = selectors.model_list()
    totals = selectors.prediction_totals([version.pk for model in models for version in model.versions.all()])
    for model in models:
        _try_version(model)
        for version in model.versions.all():
            version.totals = totals.get(version.pk, {"requests": 0, "rows": 0})
            version.alias_names = [alias.name for alias in model.aliases.all() if alias.version_id == version.pk]
    context = {
        "models": models,
        "can_predict": can_predict(request.user),
        "can_manage": can_manage_ml_models(request.user),
    }
    return render(request, "ml/models.html", context)
