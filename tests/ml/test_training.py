"""Training apart from serving: ``manage.py train_model`` trains from a CSV and registers the version with its
metrics; text-topic learns from the embedding service's vectors; the built-ins train from the repository's data."""

from io import StringIO

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from documents.embeddings import embed_texts
from ml import serving
from ml.builtins import builtin
from ml.data.make_house_prices import as_csv, generate
from ml.models import ModelAlias, ModelVersion
from ml.selectors import resolve
from tests.factories import key_client, make_key, make_user

pytestmark = pytest.mark.django_db


def train(*args: str) -> str:
    out = StringIO()
    call_command("train_model", *args, stdout=out)
    return out.getvalue()


def test_the_committed_house_table_is_what_its_generator_makes():
    assert builtin("house-price").csv.read_text() == as_csv(generate())


def test_train_model_registers_a_version_with_its_metrics_and_moves_the_alias():
    admin = make_user("admin")
    output = train(
        "house-price", "--csv", str(builtin("house-price").csv), "--alias", "production", "--user", admin.username
    )
    version = ModelVersion.objects.get(model__name="house-price")
    assert output.startswith("registered house-price v1 from 1000 rows: r2=")
    assert version.metrics["r2"] > 0.85
    assert 0 < version.metrics["mae"] < 40_000
    assert (version.metrics["train_rows"], version.metrics["test_rows"], version.training_rows) == (800, 200, 1000)
    assert version.created_by == admin
    assert version.sklearn_version
    assert version.skops_version
    assert version.python_version
    assert version.untrusted_types == ["sklearn.tree._tree.Tree"]
    assert ModelAlias.objects.get(model__name="house-price", name="production").version == version

    train("house-price", "--csv", str(builtin("house-price").csv))
    assert resolve("house-price").version == version  # a new version does not move production by itself
    assert ModelVersion.objects.filter(model__name="house-price").count() == 2


def test_train_model_refuses_a_csv_without_the_columns_it_needs(tmp_path):
    csv = tmp_path / "houses.csv"
    csv.write_text("area_m2,price\n50,100000\n")
    with pytest.raises(CommandError, match="lacks the column"):
        train("house-price", "--csv", str(csv))
    csv.write_text(as_csv(generate(rows=60)).replace("riverside", "").replace("centre", ""))
    with pytest.raises(CommandError, match=r"Line \d+: neighbourhood"):
        train("house-price", "--csv", str(csv))
    assert not ModelVersion.objects.exists()


def test_text_topic_learns_from_the_embedding_service_and_predicts_through_it():
    output = train("text-topic", "--csv", str(builtin("text-topic").csv), "--alias", "production")
    version = ModelVersion.objects.get(model__name="text-topic")
    assert "registered text-topic v1 from 223 rows" in output
    assert version.metrics["accuracy"] >= 0.75
    assert version.metrics["macro_f1"] >= 0.7
    assert version.output["labels"] == ["account", "billing", "other", "shipping", "technical"]
    assert version.untrusted_types == []

    texts = ["You charged my card twice this month, I want a refund.", "The parcel never arrived at my door."]
    client = key_client(make_key(make_user(), scopes=["ml"]))
    response = client.post("/api/v1/ml/text-topic/predict/", {"inputs": [{"text": t} for t in texts]}, format="json")
    assert response.status_code == 200, response.json()
    predictions = response.json()["predictions"]
    assert [p["label"] for p in predictions] == ["billing", "shipping"]
    classifier = serving.loaded(version).estimator
    expected = classifier.predict_proba(embed_texts(texts))
    for prediction, row in zip(predictions, expected, strict=True):
        assert np.allclose([prediction["probabilities"][label] for label in classifier.classes_], row)
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0)


def test_text_topic_inputs_need_text(tmp_path):
    train("text-topic", "--csv", str(builtin("text-topic").csv))
    client = key_client(make_key(make_user(), scopes=["ml"]))
    response = client.post("/api/v1/ml/text-topic/predict/", {"inputs": {"text": "   "}}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"inputs.text": ["inputs.text: must not be empty."]}


def test_ensure_ml_builtins_trains_only_the_models_without_a_version():
    train("house-price", "--csv", str(builtin("house-price").csv))
    out = StringIO()
    call_command("ensure_ml_builtins", stdout=out)
    assert "training the built-in model text-topic" in out.getvalue()
    assert "house-price" not in out.getvalue().replace("text-topic", "")
    assert resolve("text-topic@production").version.number == 1
    again = StringIO()
    call_command("ensure_ml_builtins", stdout=again)
    assert again.getvalue() == ""
