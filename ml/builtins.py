"""The models that ship with the service: their registry rows exist after every migrate; ``serve`` trains their first
versions from the repository's data in a child process (``manage.py ensure_ml_builtins``) when they have none."""

from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from ml.models import ApprovedType, ModelVersion, RegisteredModel

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_ALIAS = "production"


@dataclass(frozen=True)
class Builtin:
    name: str
    kind: str
    description: str
    csv: Path


BUILTINS = (
    Builtin(
        "house-price",
        RegisteredModel.Kind.REGRESSION,
        "Price of a house from its area, rooms, age, distance to the centre and neighbourhood (trained on a "
        "synthetic table: ml/data/make_house_prices.py).",
        DATA_DIR / "house_prices.csv",
    ),
    Builtin(
        "text-topic",
        RegisteredModel.Kind.CLASSIFICATION,
        "Topic of a customer message (billing, technical, shipping, account, other): a classifier over the "
        "embedding service's vectors.",
        DATA_DIR / "text_topics.csv",
    ),
)

# Types inside the built-in pipelines that skops does not trust by itself: scikit-learn's own decision-tree
# structure (the trees of house-price's gradient boosting). Approved here once, for the project, instead of by each
# admin. An admin can still revoke them (untick approved), and then the versions holding them stop loading.
BUILTIN_APPROVED_TYPES = ("sklearn.tree._tree.Tree",)
SHIPPED_NOTE = "Approved by the project for its built-in models."


def builtin(name: str) -> Builtin | None:
    return next((spec for spec in BUILTINS if spec.name == name), None)


def untrained_builtins() -> list[str]:
    """The built-in models the registry has no version of."""
    trained = set(ModelVersion.objects.filter(model__builtin=True).values_list("model__name", flat=True))
    return [spec.name for spec in BUILTINS if spec.name not in trained]


def create_builtin_rows(model_class, approved_class) -> None:
    for spec in BUILTINS:
        model_class.objects.get_or_create(
            name=spec.name, defaults={"kind": spec.kind, "description": spec.description, "builtin": True}
        )
    for name in BUILTIN_APPROVED_TYPES:
        approved_class.objects.get_or_create(name=name, defaults={"note": SHIPPED_NOTE})


def ensure_builtin_models(**_signal_kwargs) -> None:
    with transaction.atomic():
        create_builtin_rows(RegisteredModel, ApprovedType)
