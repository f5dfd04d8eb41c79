"""The one place that reads the process environment.

Every reader raises ``ImproperlyConfigured`` naming the variable when its value is malformed, so a typo in a
deployment stops the process at start-up instead of surfacing as a strange error at the first request.
"""

import json
import os
import re
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class EnvError(ImproperlyConfigured):
    """A malformed or missing environment variable; the message starts with the variable's name."""

    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.variable = name


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_required(name: str) -> str:
    value = env_str(name)
    if value is None:
        raise EnvError(name, "is required but not set")
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise EnvError(name, f"expected a boolean (true/false, 1/0), got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise EnvError(name, f"expected an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise EnvError(name, f"must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise EnvError(name, f"must be at most {maximum}, got {number}")
    return number


def env_float(name: str, default: float, *, minimum: float, maximum: float) -> float:
    value = env_str(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise EnvError(name, f"expected a number, got {value!r}") from None
    if not minimum <= number <= maximum:
        raise EnvError(name, f"must be between {minimum:g} and {maximum:g}, got {value}")
    return number


def env_choice(name: str, choices: list[str], default: str) -> str:
    value = (env_str(name) or default).strip().lower()
    if value not in choices:
        raise EnvError(name, f"expected one of {', '.join(choices)}, got {value!r}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_path(name: str, default: Path) -> Path:
    value = env_str(name)
    return Path(value).expanduser().resolve() if value else default


def env_http_url(name: str) -> str | None:
    """An http(s) base URL such as ``LLM_BASE_URL``, returned without a trailing slash."""
    value = env_str(name)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EnvError(name, f"expected an http(s) URL such as http://host:8080/v1, got {value!r}")
    _check_port(name, parts)
    return value.rstrip("/")


def env_redis_url(name: str) -> str | None:
    value = env_str(name)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.hostname or parts.path):
        raise EnvError(name, f"expected a URL such as redis://host:6379/0, got {value!r}")
    _check_port(name, parts)
    return value


def parse_database_url(name: str, value: str) -> dict:
    """A ``postgres://user:password@host:port/dbname?sslmode=require`` URL as a Django DATABASES entry."""
    parts = urlsplit(value)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise EnvError(name, f"expected a postgres:// URL, got scheme {parts.scheme or 'none'!r}")
    if not parts.hostname:
        raise EnvError(name, "has no host (expected postgres://user:password@host:5432/dbname)")
    port = _check_port(name, parts)
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname or "/" in dbname:
        raise EnvError(name, "has no database name (expected postgres://user:password@host:5432/dbname)")
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": dbname,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname,
        "PORT": str(port or 5432),
        "OPTIONS": dict(parse_qsl(parts.query)),
    }


def _check_port(name: str, parts) -> int | None:
    try:
        return parts.port
    except ValueError:
        raise EnvError(name, f"has an invalid port in {parts.netloc!r}") from None


# How a model server takes tool calls: "native" (it implements OpenAI's tools), "emulated" (we describe the tools and
# constrain its output to a call by JSON schema: small local models whose chat template has no tools), "none" (400).
TOOL_MODES = ("native", "emulated", "none")


def env_llm_models(name: str, *, default: list[dict]) -> list[dict]:
    """``LLM_MODELS``: a JSON list of models, each ``{"name", "base_url"?, "api_key_env"?, "context_window"?,
    "max_output_tokens"?, "health_url"?, "cache"?, "tools"?}``; entries without a base URL or key use the defaults of
    the first (built-in) model. ``health_url`` is the server's own health check (llama-server, vLLM: ``/health``), which
    readiness asks instead of listing models."""
    value = env_str(name)
    if value is None:
        return default
    try:
        entries = json.loads(value)
    except json.JSONDecodeError as exc:
        raise EnvError(name, f"is not valid JSON ({exc.msg} at character {exc.pos})") from None
    if not isinstance(entries, list) or not entries:
        raise EnvError(name, "must be a non-empty JSON list of model objects")
    base = default[0]
    models = []
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str) or not entry["name"]:
            raise EnvError(name, f"entry {position} needs a non-empty string 'name'")
        models.append(_llm_model(name, position, entry, base))
    return models


def _llm_model(name: str, position: int, entry: dict, base: dict) -> dict:
    base_url = entry.get("base_url", base["base_url"])
    parts = urlsplit(str(base_url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EnvError(name, f"entry {position} has an invalid base_url {base_url!r}")
    api_key = base["api_key"]
    if "api_key_env" in entry:
        api_key = env_str(str(entry["api_key_env"]))
        if api_key is None:
            raise EnvError(name, f"entry {position} reads its key from {entry['api_key_env']}, which is not set")
    limits = {}
    for field, minimum in (("context_window", 256), ("max_output_tokens", 1)):
        number = entry.get(field, base[field])
        if not isinstance(number, int) or number < minimum:
            raise EnvError(name, f"entry {position}: {field} must be an integer of at least {minimum}")
        limits[field] = number
    same_server = str(base_url).rstrip("/") == base["base_url"].rstrip("/")
    health_url = entry.get("health_url", base.get("health_url", "") if same_server else "")
    if health_url and urlsplit(str(health_url)).scheme not in ("http", "https"):
        raise EnvError(name, f"entry {position} has an invalid health_url {health_url!r}")
    cache = entry.get("cache", True)
    if not isinstance(cache, bool):
        raise EnvError(name, f"entry {position}: cache must be true or false")
    tools = entry.get("tools", base.get("tools", "native") if same_server else "native")
    if tools not in TOOL_MODES:
        raise EnvError(name, f"entry {position}: tools must be one of {', '.join(TOOL_MODES)}")
    return {
        "name": entry["name"],
        "base_url": str(base_url).rstrip("/"),
        "api_key": api_key,
        "health_url": str(health_url),
        "cache": cache,  # answers of this model may be served from the answer cache (chat.answer_cache)
        "tools": tools,
        **limits,
    }


# --- Single sign-on (docs/sso.md) -------------------------------------------------------------------------------
_PROVIDER_ID = re.compile(r"^[a-z][a-z0-9-]{0,29}$")
_LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post")


def env_oidc_providers(name: str) -> list[dict]:
    """``OIDC_PROVIDERS=keycloak,google``: the ids of OpenID Connect providers, each configured by its own
    ``OIDC_<ID>_*`` variables (``NAME``, ``DISCOVERY_URL``, ``CLIENT_ID``, ``CLIENT_SECRET``, ``SCOPES``,
    ``TOKEN_AUTH_METHOD``; the id upper-cased, ``-`` as ``_``). Secrets are read from the environment only."""
    ids = env_list(name, [])
    for provider_id in ids:
        if not _PROVIDER_ID.match(provider_id):
            raise EnvError(name, f"{provider_id!r} is not a provider id (lower-case letters, digits, '-'; ≤ 30)")
    if len(set(ids)) != len(ids):
        raise EnvError(name, "names a provider twice")
    return [_oidc_provider(provider_id) for provider_id in ids]


def _oidc_provider(provider_id: str) -> dict:
    prefix = f"OIDC_{provider_id.upper().replace('-', '_')}_"
    display_name = env_str(prefix + "NAME", provider_id)
    if len(display_name) > 40:
        raise EnvError(prefix + "NAME", "must be at most 40 characters")
    scopes = env_str(prefix + "SCOPES", "openid profile email").split()
    if "openid" not in scopes:
        raise EnvError(prefix + "SCOPES", f"must include 'openid', got {' '.join(scopes)!r}")
    token_auth = env_str(prefix + "TOKEN_AUTH_METHOD")
    if token_auth is not None and token_auth not in TOKEN_AUTH_METHODS:
        raise EnvError(prefix + "TOKEN_AUTH_METHOD", f"expected one of {', '.join(TOKEN_AUTH_METHODS)}")
    return {
        "id": provider_id,
        "name": display_name,
        "discovery_url": _discovery_url(prefix + "DISCOVERY_URL"),
        "client_id": env_required(prefix + "CLIENT_ID"),
        "client_secret": env_required(prefix + "CLIENT_SECRET"),
        "scopes": scopes,
        "token_auth_method": token_auth,
    }


def oidc_socialaccount_apps(providers: list[dict]) -> list[dict]:
    """The providers as allauth's ``SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"]``, PKCE on for each."""
    return [
        {
            "provider_id": provider["id"],
            "name": provider["name"],
            "client_id": provider["client_id"],
            "secret": provider["client_secret"],
            "settings": {
                "server_url": provider["discovery_url"],
                "scope": provider["scopes"],
                "oauth_pkce_enabled": True,
                **({"token_auth_method": provider["token_auth_method"]} if provider["token_auth_method"] else {}),
            },
        }
        for provider in providers
    ]


def _discovery_url(name: str) -> str:
    """The issuer, or its full ``/.well-known/openid-configuration`` URL, returned in the full form."""
    value = env_required(name).rstrip("/")
    parts = urlsplit(value)
    # Tokens and secrets travel over this connection: plain http only to a provider on this machine (tests, a local
    # Keycloak), never across a network.
    secure = parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS)
    if not parts.hostname or not secure:
        raise EnvError(name, f"expected an https:// issuer URL (http only on loopback), got {value!r}")
    _check_port(name, parts)
    return value if "/.well-known/" in value else value + "/.well-known/openid-configuration"


def env_role_map(name: str, roles: list[str]) -> dict[str, str]:
    """``claim-value=role,…`` (e.g. ``genai-admins=admin,staff=moderator``): which claim values give which role."""
    mapping = {}
    for pair in env_list(name, []):
        value, sep, role = pair.rpartition("=")
        if not sep or not value.strip():
            raise EnvError(name, f"expected claim-value=role pairs separated by commas, got {pair!r}")
        if role.strip() not in roles:
            raise EnvError(name, f"{role.strip()!r} is not a role (one of {', '.join(roles)})")
        mapping[value.strip()] = role.strip()
    return mapping
