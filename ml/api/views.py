"""/api/v1/ml/: the registered ML models, and predictions with them (API-key scope ``ml``)."""

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.schema import errors
from accounts.models import ApiKey, ApiKeyScope
from accounts.permissions import can_predict
from core.errors import ServiceError
from ml import selectors, services
from ml.api.serializers import ModelOutput, PredictInput, PredictOutput, model_data

ML = {"GET": ApiKeyScope.ML, "HEAD": ApiKeyScope.ML}


def _may_predict(request: Request) -> None:
    if not can_predict(request.user):
        raise ServiceError("forbidden", "Your account may not use the ML models.", status=403)


def _rows(models: list) -> list[dict]:
    totals = selectors.prediction_totals([version.pk for model in models for version in model.versions.all()])
    return [model_data(model, totals) for model in models]


class ModelListView(APIView):
    required_scopes = ML
    pagination_class = None

    @extend_schema(responses=ModelOutput(many=True), summary="The ML models, with their versions, aliases and metrics")
    def get(self, request: Request) -> Response:
        _may_predict(request)
        return Response(_rows(selectors.model_list()))


class ModelDetailView(APIView):
    required_scopes = ML

    @extend_schema(responses=ModelOutput, summary="One ML model, with its versions, aliases and metrics")
    def get(self, request: Request, name: str) -> Response:
        _may_predict(request)
        return Response(_rows([selectors.model_detail(name)])[0])


class PredictView(APIView):
    required_scopes = {"POST": ApiKeyScope.ML}

    @extend_schema(
        request=PredictInput,
        responses={200: PredictOutput, **errors(422, 503)},
        summary="Predict with a model: {name} (its production alias, else its newest version) or {name}@{alias}",
    )
    def post(self, request: Request, ref: str) -> Response:
        data = PredictInput(data=request.data)
        data.is_valid(raise_exception=True)
        api_key = request.auth if isinstance(request.auth, ApiKey) else None
        result = services.predict(user=request.user, api_key=api_key, ref=ref, inputs=data.validated_data["inputs"])
        return Response(result)
