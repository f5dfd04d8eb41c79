"""text-topic: a classifier over the embedding service's vectors, from a labelled CSV (``text``, ``label``).

The artifact holds the scikit-learn classifier alone; the vectors come from the one embedding gate
(documents.embeddings), here at training and in the web process at prediction, so both see the same features.
"""

from collections import Counter
from pathlib import Path

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from core.errors import ServiceError
from documents.embeddings import embed_texts
from ml.training.common import SEED, TEST_FRACTION, Trained, at_least, nonempty, read_csv

MAX_TEXT_CHARS = 2000
INPUT_SCHEMA = [{"name": "text", "type": "string", "max_length": MAX_TEXT_CHARS, "description": "A short message"}]


def _labelled(csv_path: Path) -> tuple[list[str], list[str]]:
    rows = read_csv(csv_path, {"text": nonempty, "label": nonempty})
    at_least(rows, 20)
    counts = Counter(row["label"] for row in rows)
    if len(counts) < 2:
        raise ServiceError("invalid_csv", "A classifier needs at least two labels.", param="csv")
    if rare := sorted(label for label, count in counts.items() if count < 5):
        raise ServiceError("invalid_csv", f"Each label needs 5 examples or more: {', '.join(rare)}.", param="csv")
    return [row["text"][:MAX_TEXT_CHARS] for row in rows], [row["label"] for row in rows]


def train(csv_path: Path) -> Trained:
    texts, labels = _labelled(csv_path)
    vectors = embed_texts(texts)
    train_x, test_x, train_y, test_y = train_test_split(
        vectors, labels, test_size=TEST_FRACTION, random_state=SEED, stratify=labels
    )
    classifier = LogisticRegression(C=10.0, max_iter=2000).fit(train_x, train_y)
    predicted = classifier.predict(test_x)
    metrics = {
        "accuracy": round(float(accuracy_score(test_y, predicted)), 4),
        "macro_f1": round(float(f1_score(test_y, predicted, average="macro")), 4),
        "train_rows": len(train_y),
        "test_rows": len(test_y),
        "labels": dict(sorted(Counter(labels).items())),
    }
    return Trained(
        estimator=classifier,
        input_format="embedding",
        input_schema=INPUT_SCHEMA,
        output={"name": "label", "labels": [str(label) for label in classifier.classes_]},
        metrics=metrics,
        training_rows=len(texts),
    )
