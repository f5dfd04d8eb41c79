"""Training, kept apart from serving: only ``manage.py train_model`` (its own process) imports this package; the web
process loads and predicts, and an import-linter contract keeps it so."""

from pathlib import Path

from core.errors import ServiceError
from ml.training import house_price, text_topic
from ml.training.common import Trained

TRAINERS = {"house-price": house_price.train, "text-topic": text_topic.train}


def train(model_name: str, csv_path: Path) -> Trained:
    trainer = TRAINERS.get(model_name)
    if trainer is None:
        names = ", ".join(sorted(TRAINERS))
        raise ServiceError("no_trainer", f"No training recipe for {model_name!r}; there are: {names}.", param="model")
    return trainer(csv_path)
