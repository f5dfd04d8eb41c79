"""POST /api/v1/ml/<name>[@alias]/predict/ and GET /api/v1/ml/models/: in the API's shapes, errors included."""

import pytest
from django.core.files.storage import default_storage

from accounts.models import Role
from accounts.services import user_suspend
from ml import serving
from ml.builtins import ensure_builtin_models
from ml.models import ApprovedType, ModelVersion, PredictionCount
from tests.factories import key_client, make_key, make_user, session_client
from tests.ml.builders import HOUSE, house_version, trained_house

pytestmark = pytest.mark.django_db

PREDICT = "/api/v1/ml/house-price/predict/"


@pytest.fixture
def client():
    return key_client(make_key(make_user(), scopes=["ml"]))


def test_a_registered_version_predicts_what_the_pipeline_itself_predicts(client):
    version = house_version()
    trained, _ = trained_house()
    rows = [HOUSE, HOUSE | {"area_m2": 180.0, "neighbourhood": "centre"}, HOUSE | {"age_years": 90}]

    one = client.post(PREDICT, {"inputs": HOUSE}, format="json")
    many = client.post(PREDICT, {"inputs": rows}, format="json")

    assert one.status_code == 200, one.json()
    assert one.json() == {
        "model": "house-price",
        "version": version.number,
        "alias": "production",
        "predictions": [{"price": trained.estimator.predict([HOUSE])[0]}],
    }
    assert [p["price"] for p in many.json()["predictions"]] == trained.estimator.predict(rows).tolist()


def test_an_alias_in_the_path_chooses_the_version(client):
    first = house_version(alias="production")
    second = house_version(alias="staging")
    assert client.post(PREDICT, {"inputs": HOUSE}, format="json").json()["version"] == first.number
    staged = client.post("/api/v1/ml/house-price@staging/predict/", {"inputs": HOUSE}, format="json").json()
    assert (staged["version"], staged["alias"]) == (second.number, "staging")


@pytest.mark.parametrize(
    ("inputs", "field", "message"),
    [
        (HOUSE | {"area_m2": "big"}, "inputs.area_m2", "must be a number"),
        (HOUSE | {"bedrooms": 2.5}, "inputs.bedrooms", "must be a whole number"),
        (HOUSE | {"area_m2": 5}, "inputs.area_m2", "must be at least 10"),
        (HOUSE | {"neighbourhood": "moon"}, "inputs.neighbourhood", "must be one of"),
        (HOUSE | {"garden": True}, "inputs.garden", "is not a field of this model"),
        ({k: v for k, v in HOUSE.items() if k != "age_years"}, "inputs.age_years", "is required"),
        ([HOUSE, HOUSE | {"distance_km": None}], "inputs[1].distance_km", "is required"),
        ([], "inputs", "non-empty list"),
        ("a house", "inputs", "an object of field values"),
    ],
)
def test_it_rejects_inputs_that_break_the_schema_naming_the_field(client, inputs, field, message):
    house_version()
    response = client.post(PREDICT, {"inputs": inputs}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert list(error["fields"]) == [field]
    assert message in error["message"]


def test_it_rejects_a_body_without_inputs_and_too_many_rows(client, settings):
    house_version()
    response = client.post(PREDICT, {"rows": [HOUSE]}, format="json")
    assert response.status_code == 400
    assert "inputs" in response.json()["error"]["fields"]
    settings.ML_MAX_ROWS = 3
    response = client.post(PREDICT, {"inputs": [HOUSE] * 4}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "inputs: at most 3 rows per request."


def test_it_requires_the_ml_scope():
    house_version()
    user = make_user()
    without = key_client(make_key(user, scopes=["chat", "read", "documents"]))
    for response in (without.post(PREDICT, {"inputs": HOUSE}, format="json"), without.get("/api/v1/ml/models/")):
        assert response.status_code == 403
        assert response.json()["error"]["message"] == "This API key lacks the 'ml' scope."
    assert key_client(make_key(user, scopes=["ml"])).post(PREDICT, {"inputs": HOUSE}, format="json").status_code == 200


def test_viewers_may_predict_and_suspended_users_may_not():
    house_version()
    viewer = make_user(Role.VIEWER)
    assert session_client(viewer).post(PREDICT, {"inputs": HOUSE}, format="json").status_code == 200
    suspended = make_user()
    client = session_client(suspended)
    user_suspend(actor=None, user=suspended, reason="test")
    assert client.post(PREDICT, {"inputs": HOUSE}, format="json").status_code in (401, 403)


def test_it_rate_limits_predictions(client, settings):
    house_version()
    settings.ML_REQUESTS_PER_MINUTE = 2
    statuses = [client.post(PREDICT, {"inputs": HOUSE}, format="json").status_code for _ in range(2)]
    refused = client.post(PREDICT, {"inputs": HOUSE}, format="json")
    assert statuses == [200, 200]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert "predictions" in refused.json()["error"]["message"]
    assert int(refused["Retry-After"]) >= 1


def test_it_counts_each_prediction_request_and_its_rows(client):
    version = house_version()
    client.post(PREDICT, {"inputs": HOUSE}, format="json")
    client.post(PREDICT, {"inputs": [HOUSE] * 5}, format="json")
    client.post(PREDICT, {"inputs": HOUSE | {"area_m2": "x"}}, format="json")  # refused: not counted
    count = PredictionCount.objects.get(version=version)
    assert (count.requests, count.rows) == (2, 6)
    listed = client.get("/api/v1/ml/models/house-price/").json()
    assert listed["versions"][0]["predictions"] == {"requests": 2, "rows": 6}


def test_a_missing_artifact_answers_503_in_json(client):
    version = house_version()
    default_storage.delete(version.artifact.name)
    response = client.post(PREDICT, {"inputs": HOUSE}, format="json")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "model_not_loaded"
    assert "artifact file is missing" in response.json()["error"]["message"]


def test_a_version_from_another_scikit_learn_answers_503_saying_so(client):
    version = house_version()
    ModelVersion.objects.filter(pk=version.pk).update(sklearn_version="1.0.2")  # as after a server upgrade
    response = client.post(PREDICT, {"inputs": HOUSE}, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "sklearn_version_mismatch"
    assert "trained with scikit-learn 1.0.2" in response.json()["error"]["message"]


def test_revoking_an_approved_type_stops_a_loaded_version(client):
    house_version()
    assert client.post(PREDICT, {"inputs": HOUSE}, format="json").status_code == 200
    ApprovedType.objects.filter(name="sklearn.tree._tree.Tree").update(approved=False)
    from ml.selectors import forget_approved_types

    forget_approved_types()  # as the TTL would, a few seconds later
    response = client.post(PREDICT, {"inputs": HOUSE}, format="json")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unapproved_types"
    assert "sklearn.tree._tree.Tree" in response.json()["error"]["message"]


def test_it_tells_missing_models_aliases_and_versions_apart(client):
    ensure_builtin_models()
    missing = client.post("/api/v1/ml/no-such/predict/", {"inputs": HOUSE}, format="json")
    not_yet = client.post(PREDICT, {"inputs": HOUSE}, format="json")
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "model_not_found")
    assert (not_yet.status_code, not_yet.json()["error"]["code"]) == (503, "model_not_loaded")
    assert not_yet["Retry-After"] == "10"
    house_version()
    no_alias = client.post("/api/v1/ml/house-price@canary/predict/", {"inputs": HOUSE}, format="json")
    assert (no_alias.status_code, no_alias.json()["error"]["code"]) == (404, "alias_not_found")


def test_it_lists_models_with_versions_aliases_and_metrics(client):
    version = house_version()
    models = {model["name"]: model for model in client.get("/api/v1/ml/models/").json()}
    assert set(models) == {"house-price", "text-topic"}
    house = models["house-price"]
    assert house["aliases"] == {"production": version.number}
    listed = house["versions"][0]
    assert listed["aliases"] == ["production"]
    assert listed["metrics"]["r2"] > 0.8
    assert listed["input_schema"][0]["name"] == "area_m2"
    assert listed["sha256"] == version.sha256
    assert models["text-topic"]["versions"] == []


def test_a_version_is_loaded_once_per_process(client):
    version = house_version()
    assert not serving.is_loaded(version)
    client.post(PREDICT, {"inputs": HOUSE}, format="json")
    assert serving.is_loaded(version)
    entry = serving.loaded(version)
    client.post(PREDICT, {"inputs": HOUSE}, format="json")
    assert serving.loaded(version) is entry
