import pytest

from genaisite.env import EnvError, env_bool, env_http_url, env_int, env_list, parse_database_url


def test_it_parses_a_full_database_url():
    db = parse_database_url("DATABASE_URL", "postgres://app:s%40cret@db.internal:6543/genai?sslmode=require")
    assert db["NAME"] == "genai"
    assert db["USER"] == "app"
    assert db["PASSWORD"] == "s@cret"
    assert (db["HOST"], db["PORT"]) == ("db.internal", "6543")
    assert db["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("mysql://u:p@h/db", "postgres://"),
        ("postgres:///dbname", "no host"),
        ("postgres://u:p@host:5432/", "no database name"),
        ("postgres://u:p@host:notaport/db", "invalid port"),
        ("not a url at all", "postgres://"),
    ],
)
def test_it_rejects_a_malformed_database_url_naming_the_variable(value, problem):
    with pytest.raises(EnvError) as caught:
        parse_database_url("DATABASE_URL", value)
    assert str(caught.value).startswith("DATABASE_URL: ")
    assert problem in str(caught.value)


@pytest.mark.parametrize("value", ["ftp://llm/v1", "localhost:8080", "http://", "http://host:99999/v1"])
def test_it_rejects_a_malformed_llm_base_url(monkeypatch, value):
    monkeypatch.setenv("LLM_BASE_URL", value)
    with pytest.raises(EnvError, match=r"^LLM_BASE_URL: "):
        env_http_url("LLM_BASE_URL")


def test_it_strips_the_trailing_slash_of_a_base_url(monkeypatch):
    monkeypatch.setenv("LLM_BASE_URL", "https://vllm.internal:8000/v1/")
    assert env_http_url("LLM_BASE_URL") == "https://vllm.internal:8000/v1"


def test_it_reads_booleans_and_refuses_anything_else(monkeypatch):
    monkeypatch.setenv("FLAG", "yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "0")
    assert env_bool("FLAG", True) is False
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(EnvError, match=r"^FLAG: expected a boolean"):
        env_bool("FLAG", False)


def test_it_enforces_integer_bounds(monkeypatch):
    monkeypatch.setenv("PORT", "70000")
    with pytest.raises(EnvError, match=r"^PORT: must be at most 65535"):
        env_int("PORT", 8000, minimum=1, maximum=65535)
    monkeypatch.setenv("PORT", "eighty")
    with pytest.raises(EnvError, match=r"^PORT: expected an integer"):
        env_int("PORT", 8000)


def test_it_splits_comma_separated_lists(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", " a.example, b.example ,,")
    assert env_list("ALLOWED_HOSTS", []) == ["a.example", "b.example"]
