import pytest

from tests.ml.builders import fresh_process_state


@pytest.fixture(autouse=True)
def _fresh_ml_state():
    """Each test starts as a new process would: nothing loaded, approved types read afresh."""
    fresh_process_state()
    yield
    fresh_process_state()
