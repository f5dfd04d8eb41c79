"""Fixtures of the batch tests: a person and their unmodified ``openai`` client on a real Daphne and Huey worker."""

import openai
import pytest

from tests.factories import make_key, make_user


@pytest.fixture
def owner():
    return make_user()


@pytest.fixture
def client(fake_llm, huey_worker, daphne_server, settings, owner) -> openai.OpenAI:
    url = daphne_server(settings.LLM_MODELS)
    return openai.OpenAI(base_url=f"{url}/v1", api_key=make_key(owner), max_retries=0)
