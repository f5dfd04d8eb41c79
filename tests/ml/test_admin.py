"""The registry in the admin: uploads (a pickle refused unopened), approving types, moving an alias, and
retraining text-topic from a labelled CSV on a real Huey worker."""

import pickle
import re

import numpy as np
import pytest
import skops.io
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from accounts.models import Role
from ml.builtins import builtin, ensure_builtin_models
from ml.models import ModelAlias, ModelVersion, RegisteredModel, TrainingJob
from tests.conftest import wait_until
from tests.factories import make_user, session_client
from tests.ml.builders import HOUSE, PickleBomb, doubled, house_version

pytestmark = pytest.mark.django_db

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)"')
SCHEMA = '[{"name": "a", "type": "number"}, {"name": "b", "type": "number"}]'


def admin_client() -> Client:
    client = Client()
    client.force_login(make_user(Role.ADMIN))
    return client


def upload(client: Client, model: RegisteredModel, name: str, data: bytes, alias: str = "") -> object:
    form = {
        "model": model.pk,
        "input_format": "array",
        "input_schema": SCHEMA,
        "output": '{"name": "y"}',
        "sklearn_version": __import__("sklearn").__version__,
        "alias": alias,
        "artifact_file": SimpleUploadedFile(name, data),
    }
    return client.post("/admin/ml/modelversion/add/", form)


@pytest.fixture
def custom_model() -> RegisteredModel:
    return RegisteredModel.objects.create(name="doubled-sum", kind=RegisteredModel.Kind.REGRESSION)


def test_the_admin_refuses_a_pickle_upload_without_opening_it(custom_model, tmp_path):
    marker = tmp_path / "pwned"
    page = upload(admin_client(), custom_model, "model.pkl", pickle.dumps(PickleBomb(marker)))
    assert page.status_code == 200, "the form comes back with its error"
    assert "which runs code when it is opened: it was not opened" in page.content.decode()
    assert not marker.exists()
    assert not ModelVersion.objects.exists()


def test_an_uploaded_type_serves_only_once_an_admin_approves_it(custom_model):
    pipeline = make_pipeline(FunctionTransformer(doubled), LinearRegression())
    pipeline.fit(np.array([[1, 2], [2, 1], [3, 5], [4, 4]]), [3, 3, 8, 8])
    admin = admin_client()
    page = upload(admin, custom_model, "model.skops", skops.io.dumps(pipeline), alias="production")
    assert page.status_code == 302, page.content.decode()[-2000:]
    version = ModelVersion.objects.get(model=custom_model)
    assert (version.source, version.untrusted_types) == ("uploaded", ["tests.ml.builders.doubled"])

    client = session_client(make_user())
    url = "/api/v1/ml/doubled-sum/predict/"
    refused = client.post(url, {"inputs": {"a": 1, "b": 1}}, format="json")
    assert refused.status_code == 503
    assert "tests.ml.builders.doubled" in refused.json()["error"]["message"]

    approved = admin.post("/admin/ml/approvedtype/add/", {"name": "tests.ml.builders.doubled", "approved": "on"})
    assert approved.status_code == 302
    answer = client.post(url, {"inputs": [{"a": 1, "b": 1}, {"a": 2, "b": 3}]}, format="json")
    assert answer.status_code == 200, answer.json()
    expected = pipeline.predict(np.array([[1, 1], [2, 3]])).tolist()
    assert [prediction["y"] for prediction in answer.json()["predictions"]] == expected


def test_an_admin_moves_an_alias_and_the_next_prediction_follows(settings):
    first = house_version(alias="production")
    second = house_version(alias="")
    admin = admin_client()
    url = f"/admin/ml/registeredmodel/{first.model.pk}/change/"
    form = dict(HIDDEN.findall(admin.get(url).content.decode()))
    alias = ModelAlias.objects.get(model=first.model, name="production")
    form |= {"description": first.model.description, "kind": "regression"}
    form |= {"aliases-0-id": str(alias.pk), "aliases-0-model": str(first.model.pk)}
    form |= {"aliases-0-name": "production", "aliases-0-version": str(second.pk)}
    saved = admin.post(url, form)
    assert saved.status_code == 302, saved.content.decode()[-3000:]
    alias.refresh_from_db()
    assert alias.version == second
    answer = session_client(make_user()).post("/api/v1/ml/house-price/predict/", {"inputs": HOUSE}, format="json")
    assert answer.json()["version"] == second.number


def test_only_admins_see_the_registry_in_the_admin():
    ensure_builtin_models()
    moderator = Client()
    moderator.force_login(make_user(Role.MODERATOR))
    for path in ("/admin/ml/registeredmodel/", "/admin/ml/approvedtype/", "/admin/ml/trainingjob/add/"):
        assert moderator.get(path).status_code in (302, 403), path
    assert admin_client().get("/admin/ml/registeredmodel/").status_code == 200


NEW_EXAMPLES = [
    ("My invoice lists a warranty extension I never bought.", "billing"),
    ("The router light blinks red and nothing connects.", "technical"),
    ("Could the courier leave the parcel with my neighbour?", "shipping"),
    ("I want to add a second admin to our workspace.", "account"),
    ("Is your museum shop open on Sundays?", "other"),
]


@pytest.mark.django_db(transaction=True)
def test_an_admin_retrains_text_topic_from_a_labelled_csv_on_the_worker(huey_worker):
    csv = builtin("text-topic").csv.read_text() + "".join(f'"{text}",{label}\n' for text, label in NEW_EXAMPLES)
    admin = admin_client()
    ensure_builtin_models()
    model = RegisteredModel.objects.get(name="text-topic")
    chosen = admin.post("/admin/ml/registeredmodel/", {"action": "retrain", "_selected_action": [model.pk]})
    assert chosen.status_code == 302
    assert chosen["Location"] == f"/admin/ml/trainingjob/add/?model={model.pk}"

    form = {"model": model.pk, "alias": "production", "csv": SimpleUploadedFile("topics.csv", csv.encode())}
    assert admin.post("/admin/ml/trainingjob/add/", form).status_code == 302
    job = TrainingJob.objects.get()
    assert wait_until(lambda: TrainingJob.objects.get(pk=job.pk).status in ("succeeded", "failed"), timeout=120)
    job.refresh_from_db()
    assert job.status == "succeeded", (job.reason, job.log_tail)
    assert job.version is not None
    assert job.version.training_rows == 223 + len(NEW_EXAMPLES)
    assert job.version.created_by.role == Role.ADMIN
    assert "registered text-topic v1" in job.log_tail
    assert ModelAlias.objects.get(model=model, name="production").version == job.version
    page = admin.get(f"/admin/ml/trainingjob/{job.pk}/change/").content.decode()
    assert "Succeeded" in page
    assert "registered text-topic v1" in page


@pytest.mark.django_db(transaction=True)
def test_a_failed_training_job_says_why(huey_worker):
    ensure_builtin_models()
    model = RegisteredModel.objects.get(name="text-topic")
    form = {"model": model.pk, "csv": SimpleUploadedFile("topics.csv", b"message,topic\nhello,other\n")}
    assert admin_client().post("/admin/ml/trainingjob/add/", form).status_code == 302
    assert wait_until(lambda: TrainingJob.objects.get().status in ("succeeded", "failed"), timeout=120)
    job = TrainingJob.objects.get()
    assert job.status == "failed"
    assert "lacks the column(s) text, label" in job.reason
    assert job.finished_at is not None
    assert not ModelVersion.objects.exists()
