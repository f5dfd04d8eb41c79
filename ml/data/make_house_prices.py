"""Makes ml/data/house_prices.csv: a synthetic housing table (no real houses), the same rows on every run.

Price per m² depends on the neighbourhood, falls with age and distance to the centre, and rooms add a little;
multiplicative noise of about 7% keeps it from being exactly learnable. Run ``python -m ml.data.make_house_prices``
to rewrite the file; tests check the committed file is what this makes.
"""

import csv
import io
import math
from pathlib import Path

import numpy as np

SEED = 19
ROWS = 1000
OUTPUT = Path(__file__).with_name("house_prices.csv")
COLUMNS = ["area_m2", "bedrooms", "bathrooms", "age_years", "distance_km", "neighbourhood", "price"]
# Neighbourhood: (share of houses, € per m² when new and central, distance range to the centre in km).
NEIGHBOURHOODS = {
    "centre": (0.15, 5200, (0.2, 2.0)),
    "riverside": (0.15, 4400, (1.0, 5.0)),
    "university": (0.2, 3800, (1.5, 6.0)),
    "suburbs": (0.35, 3000, (5.0, 20.0)),
    "industrial": (0.15, 2300, (3.0, 12.0)),
}


def _house(rng: np.random.Generator, names: list[str], shares: list[float]) -> dict:
    neighbourhood = names[rng.choice(len(names), p=shares)]
    _, per_m2, (near, far) = NEIGHBOURHOODS[neighbourhood]
    area = float(np.clip(rng.lognormal(math.log(85), 0.4), 25, 400))
    bedrooms = int(np.clip(round(area / 32 + rng.normal(0, 0.7)), 1, 8))
    bathrooms = int(np.clip(1 + area // 95 + rng.integers(0, 2), 1, 5))
    age = float(np.clip(rng.gamma(2.0, 18.0), 0, 150))
    distance = float(rng.uniform(near, far))
    value = area * per_m2 * max(0.45, 1 - 0.004 * age) * math.exp(-0.02 * distance)
    value += 6000 * bathrooms + 2500 * bedrooms
    price = value * float(rng.lognormal(0, 0.07))
    return {
        "area_m2": round(area, 1),
        "bedrooms": bedrooms,
        "bathrooms": bathrooms,
        "age_years": round(age, 1),
        "distance_km": round(distance, 2),
        "neighbourhood": neighbourhood,
        "price": int(round(price, -2)),
    }


def generate(rows: int = ROWS, seed: int = SEED) -> list[dict]:
    rng = np.random.default_rng(seed)
    names = list(NEIGHBOURHOODS)
    shares = [NEIGHBOURHOODS[name][0] for name in names]
    return [_house(rng, names, shares) for _ in range(rows)]


def as_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


if __name__ == "__main__":
    OUTPUT.write_text(as_csv(generate()))
