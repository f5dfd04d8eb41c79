"""Two real web processes (Daphne, the production entry point): each preloads the production version at start, and
an alias moved in the database is what both serve on their very next request, without a restart."""

import httpx
import pytest

from ml import services
from tests.conftest import wait_until
from tests.factories import make_key, make_user
from tests.ml.builders import HOUSE, house_version

pytestmark = pytest.mark.django_db(transaction=True)


def predict(base_url: str, key: str, ref: str = "house-price") -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"}
    return httpx.post(f"{base_url}/api/v1/ml/{ref}/predict/", json={"inputs": HOUSE}, headers=headers, timeout=30)


def test_moving_an_alias_takes_effect_in_every_process_without_a_restart(settings, daphne_server, tmp_path):
    first = house_version(alias="production")
    second = house_version(alias="")
    key = make_key(make_user(), scopes=["ml"])
    servers = [daphne_server(settings.LLM_MODELS), daphne_server(settings.LLM_MODELS)]
    logs = [tmp_path / f"daphne-{url.rsplit(':', 1)[1]}.log" for url in servers]
    assert all(
        wait_until(lambda log=log: "ml: 1 production version(s) preloaded" in log.read_text(), timeout=30)
        for log in logs
    ), [log.read_text()[-2000:] for log in logs]

    assert [predict(url, key).json()["version"] for url in servers] == [first.number] * 2

    services.alias_set(model=first.model, name="production", version=second, actor=None)
    after = [predict(url, key).json() for url in servers]
    assert [(answer["version"], answer["alias"]) for answer in after] == [(second.number, "production")] * 2

    services.alias_set(model=first.model, name="production", version=first, actor=None)  # and back: a rollback
    assert [predict(url, key).json()["version"] for url in servers] == [first.number] * 2
