"""house-price: a regression pipeline on a small housing table (ml/data/house_prices.csv, synthetic: see
ml/data/make_house_prices.py). The pipeline takes records (a dict per house), so it needs no column order."""

from pathlib import Path

from sklearn.ensemble import GradientBoostingRegressor
from sklearn.feature_extraction import DictVectorizer
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from ml.training.common import SEED, TEST_FRACTION, Trained, at_least, nonempty, read_csv

NEIGHBOURHOODS = ["centre", "riverside", "university", "suburbs", "industrial"]
FEATURES = ["area_m2", "bedrooms", "bathrooms", "age_years", "distance_km", "neighbourhood"]
INPUT_SCHEMA = [
    {"name": "area_m2", "type": "number", "minimum": 10, "maximum": 1000, "description": "Living area in m²"},
    {"name": "bedrooms", "type": "integer", "minimum": 0, "maximum": 20},
    {"name": "bathrooms", "type": "integer", "minimum": 0, "maximum": 10},
    {"name": "age_years", "type": "number", "minimum": 0, "maximum": 300},
    {"name": "distance_km", "type": "number", "minimum": 0, "maximum": 100, "description": "To the city centre"},
    {"name": "neighbourhood", "type": "string", "choices": NEIGHBOURHOODS},
]
COLUMNS = {
    "area_m2": float,
    "bedrooms": int,
    "bathrooms": int,
    "age_years": float,
    "distance_km": float,
    "neighbourhood": nonempty,
    "price": float,
}


def pipeline() -> Pipeline:
    return Pipeline(
        [
            ("features", DictVectorizer(sparse=False)),
            (
                "regressor",
                GradientBoostingRegressor(n_estimators=250, max_depth=3, learning_rate=0.05, random_state=SEED),
            ),
        ]
    )


def train(csv_path: Path) -> Trained:
    rows = read_csv(csv_path, COLUMNS)
    at_least(rows, 50)
    records = [{name: row[name] for name in FEATURES} for row in rows]
    prices = [row["price"] for row in rows]
    train_x, test_x, train_y, test_y = train_test_split(records, prices, test_size=TEST_FRACTION, random_state=SEED)
    model = pipeline().fit(train_x, train_y)
    predicted = model.predict(test_x)
    metrics = {
        "r2": round(float(r2_score(test_y, predicted)), 4),
        "mae": round(float(mean_absolute_error(test_y, predicted)), 2),
        "train_rows": len(train_x),
        "test_rows": len(test_x),
    }
    neighbourhoods = sorted({row["neighbourhood"] for row in rows})
    schema = [
        field | {"choices": neighbourhoods} if field["name"] == "neighbourhood" else field for field in INPUT_SCHEMA
    ]
    return Trained(
        estimator=model,
        input_format="records",
        input_schema=schema,
        output={"name": "price", "unit": "EUR"},
        metrics=metrics,
        training_rows=len(rows),
    )
