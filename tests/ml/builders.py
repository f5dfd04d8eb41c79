"""Registry rows for the ML tests, made the way the product makes them: trained by the real recipes, registered
through ml.services. The house-price pipeline is trained once per run (the recipe is deterministic) and registered
anew in each test's database."""

import functools
from pathlib import Path

from ml import artifacts, services, serving
from ml.builtins import builtin, ensure_builtin_models
from ml.models import ModelVersion, RegisteredModel
from ml.selectors import forget_approved_types
from ml.training import house_price
from ml.training.common import Trained

HOUSE = {
    "area_m2": 92.5,
    "bedrooms": 3,
    "bathrooms": 1,
    "age_years": 25,
    "distance_km": 3.2,
    "neighbourhood": "riverside",
}


@functools.cache
def trained_house() -> tuple[Trained, bytes]:
    trained = house_price.train(builtin("house-price").csv)
    return trained, artifacts.dump(trained.estimator)


def model(name: str = "house-price") -> RegisteredModel:
    ensure_builtin_models()
    return RegisteredModel.objects.get(name=name)


def house_version(*, alias: str = "production", created_by=None) -> ModelVersion:
    """A new version of house-price from the real recipe, ``alias`` moved to it."""
    trained, data = trained_house()
    return services.version_register(
        model=model("house-price"),
        data=data,
        input_format=trained.input_format,
        input_schema=trained.input_schema,
        library_versions=artifacts.library_versions(),
        output=trained.output,
        metrics=trained.metrics,
        training_rows=trained.training_rows,
        created_by=created_by,
        alias=alias,
    )


def fresh_process_state() -> None:
    """What a new process would hold: no loaded versions, no cached approved types."""
    serving.forget()
    forget_approved_types()


class MarkerOnLoad:
    """An object that leaves a file behind when it is rebuilt (unpickled, or loaded by skops): proof code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __setstate__(self, state: dict) -> None:
        Path(state["marker"]).write_text("code ran while loading")
        self.__dict__.update(state)


class PickleBomb:
    """Pickling this records a call that creates ``marker`` when the pickle is opened."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def doubled(features):
    """A function of our own inside a pipeline: skops does not trust it until an admin approves it."""
    return features * 2
