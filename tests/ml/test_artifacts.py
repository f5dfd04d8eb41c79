"""Safe artifacts: pickles and joblib files are refused from their first bytes, never opened; a skops archive loads
only with approved types, its registered sha256 and this server's scikit-learn."""

import io
import pickle
import zipfile

import joblib
import pytest
import sklearn
import skops.io

from core.errors import ServiceError
from ml import artifacts
from tests.ml.builders import MarkerOnLoad, PickleBomb, trained_house


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_it_refuses_a_pickle_without_opening_it(tmp_path, protocol):
    marker = tmp_path / "pwned"
    data = pickle.dumps(PickleBomb(marker), protocol=protocol)
    pickle.loads(data)  # noqa: S301 - the bomb is real: opening it creates the file
    assert marker.exists()
    marker.unlink()

    with pytest.raises(ServiceError) as refused:
        artifacts.inspect(data)
    assert refused.value.code == "pickle_refused"
    assert f"a pickle (protocol {protocol})" in refused.value.message
    assert not marker.exists(), "the pickle was opened"


@pytest.mark.parametrize("compress", [0, 3, ("gzip", 3), ("bz2", 3), ("xz", 3)])
def test_it_refuses_joblib_files_compressed_or_not(tmp_path, compress):
    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    joblib.dump(PickleBomb(marker), buffer, compress=compress)
    with pytest.raises(ServiceError) as refused:
        artifacts.inspect(buffer.getvalue())
    assert refused.value.code == "pickle_refused"
    assert not marker.exists()


def test_it_refuses_a_zip_that_is_not_a_skops_file():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("model.pkl", b"\x80\x04 not really")
    with pytest.raises(ServiceError, match=r"no schema\.json"):
        artifacts.inspect(buffer.getvalue())
    with pytest.raises(ServiceError, match="Not a skops file"):
        artifacts.inspect(b"just some text")


def test_it_lists_the_types_an_admin_must_approve_without_building_them(tmp_path):
    marker = tmp_path / "ran"
    data = skops.io.dumps({"step": MarkerOnLoad(str(marker))})
    inspected = artifacts.inspect(data)
    assert inspected.untrusted_types == ["tests.ml.builders.MarkerOnLoad"]
    assert not marker.exists()


def test_it_refuses_an_unapproved_type_naming_it_and_loads_once_approved(tmp_path):
    marker = tmp_path / "ran"
    data = skops.io.dumps({"step": MarkerOnLoad(str(marker))})
    checks = {"sha256": artifacts.sha256_of(data), "sklearn_version": sklearn.__version__}
    with pytest.raises(ServiceError) as refused:
        artifacts.load(data, approved=set(), **checks)
    assert (refused.value.code, refused.value.status) == ("unapproved_types", 503)
    assert "tests.ml.builders.MarkerOnLoad" in refused.value.message
    assert not marker.exists(), "an unapproved type's code ran"

    loaded = artifacts.load(data, approved={"tests.ml.builders.MarkerOnLoad"}, **checks)
    assert loaded["step"].marker == str(marker)
    assert marker.exists()  # approval is exactly what lets its code run


def test_it_refuses_an_artifact_whose_bytes_changed():
    _, data = trained_house()
    with pytest.raises(ServiceError) as refused:
        artifacts.load(data, sha256="0" * 64, sklearn_version=sklearn.__version__, approved={"sklearn.tree._tree.Tree"})
    assert refused.value.code == "artifact_corrupt"


def test_it_refuses_another_scikit_learn_with_a_clear_message():
    _, data = trained_house()
    with pytest.raises(ServiceError) as refused:
        artifacts.load(data, sha256=artifacts.sha256_of(data), sklearn_version="1.0.2", approved=set())
    assert refused.value.code == "sklearn_version_mismatch"
    assert refused.value.message.startswith(
        f"This model was trained with scikit-learn 1.0.2, this server has {sklearn.__version__}; retrain"
    )


def test_a_trained_pipeline_round_trips_through_skops():
    trained, data = trained_house()
    approved = set(artifacts.inspect(data).untrusted_types)
    assert approved == {"sklearn.tree._tree.Tree"}
    loaded = artifacts.load(
        data, sha256=artifacts.sha256_of(data), sklearn_version=sklearn.__version__, approved=approved
    )
    rows = [
        {
            "area_m2": 70.0,
            "bedrooms": 2,
            "bathrooms": 1,
            "age_years": 10.0,
            "distance_km": 2.0,
            "neighbourhood": "centre",
        }
    ]
    assert loaded.predict(rows).tolist() == trained.estimator.predict(rows).tolist()
