"""The one embedding boundary: every vector comes from an OpenAI-compatible embeddings API.

By default that is the embedding service on loopback (``genaisite/embedded/embedding_server.py``, one process that
owns all-MiniLM-L6-v2); ``EMBEDDINGS_BASE_URL`` points at any other (a hosted API, TEI, vLLM). Either way no web or
worker process loads torch. Chunking counts tokens with the local model's tokenizer alone (the Rust ``tokenizers``
library: small, fast, no torch), loaded once per process under a lock.
"""

import base64
import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import openai
from django.conf import settings

from core.errors import ServiceError
from documents.embedding_model import model_directory

logger = logging.getLogger(__name__)

REQUEST_TEXTS = 256  # texts per request: large enough to keep the service's batches full
HEALTH_TIMEOUT = 2.0
INTERACTIVE_TIMEOUT = 5.0


class EmbeddingError(ServiceError):
    def __init__(self, message: str) -> None:
        super().__init__("embeddings_unavailable", message, status=503)


_client_lock = threading.Lock()
_clients: dict[tuple[str, str, bool], openai.OpenAI] = {}


def _api(*, interactive: bool = False) -> openai.OpenAI:
    """One client per process, service and kind, shared by every thread (thread-safe, pooled, keep-alive). The
    interactive one serves someone waiting (a search, a citation check): it fails fast rather than hangs."""
    key = (settings.EMBEDDINGS_BASE_URL, settings.EMBEDDINGS_API_KEY, interactive)
    with _client_lock:
        if key not in _clients:
            timeout = INTERACTIVE_TIMEOUT if interactive else settings.EMBEDDINGS_TIMEOUT
            _clients[key] = openai.OpenAI(
                base_url=key[0],
                api_key=key[1],
                timeout=openai.Timeout(timeout, connect=3.0),
                max_retries=1 if interactive else 2,
            )
        return _clients[key]


def _decode(item: object) -> np.ndarray:
    embedding = item.embedding
    if isinstance(embedding, str):  # base64 of little-endian float32, as asked
        return np.frombuffer(base64.b64decode(embedding), dtype="<f4")
    return np.asarray(embedding, dtype=np.float32)


def _request(texts: list[str], *, interactive: bool = False) -> list[np.ndarray]:
    try:
        response = _api(interactive=interactive).embeddings.create(
            model=settings.EMBEDDINGS_MODEL,
            input=texts,
            dimensions=settings.EMBEDDING_DIMENSIONS,
            encoding_format="base64",  # a quarter of the bytes of JSON floats, and no float parsing
        )
    except openai.APIConnectionError as exc:
        raise EmbeddingError(f"Could not reach the embedding service at {settings.EMBEDDINGS_BASE_URL}.") from exc
    except openai.APIStatusError as exc:
        raise EmbeddingError(f"The embedding service answered {exc.status_code}: {str(exc.message)[:200]}") from exc
    rows = [_decode(item) for item in sorted(response.data, key=lambda item: item.index)]
    if len(rows) != len(texts) or any(row.shape != (settings.EMBEDDING_DIMENSIONS,) for row in rows):
        raise EmbeddingError(f"The embedding service did not return {settings.EMBEDDING_DIMENSIONS}-d vectors.")
    return rows


def embed_texts(texts: list[str]) -> np.ndarray:
    """Unit-length float32 vectors, one row per text."""
    if not texts:
        return np.zeros((0, settings.EMBEDDING_DIMENSIONS), dtype=np.float32)
    parts = [texts[start : start + REQUEST_TEXTS] for start in range(0, len(texts), REQUEST_TEXTS)]
    if len(parts) == 1:
        rows = _request(parts[0])
    else:
        # Two requests at the service at once: it encodes one while the other travels, so it never waits.
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="embed-request") as pool:
            rows = [row for part in pool.map(_request, parts) for row in part]
    return _unit_rows(rows)


def embed_query(text: str) -> np.ndarray:
    """One text for someone waiting (a search, a citation check): a short timeout instead of the batch one."""
    return _unit_rows(_request([text], interactive=True))[0]


def _unit_rows(rows: list[np.ndarray]) -> np.ndarray:
    vectors = np.vstack(rows).astype(np.float32, copy=False)
    # Normalised here too: a hosted API may not, and cosine distance in pgvector assumes nothing either way.
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def readiness() -> tuple[bool, str]:
    """The service answers its health check (the embedded one, TEI, vLLM); a hosted API without one is trusted
    (probing it would cost money)."""
    url = health_url(settings.EMBEDDINGS_BASE_URL) if settings.EMBEDDED_EMBEDDINGS else settings.EMBEDDINGS_HEALTH_URL
    if not url:
        return True, f"{settings.EMBEDDINGS_MODEL} at {settings.EMBEDDINGS_BASE_URL}"
    try:
        response = httpx.get(url, timeout=HEALTH_TIMEOUT)
    except httpx.HTTPError as exc:
        return False, f"embedding service unreachable at {settings.EMBEDDINGS_BASE_URL}: {type(exc).__name__}"
    if response.status_code != 200:
        return False, f"embedding service at {settings.EMBEDDINGS_BASE_URL} answered {response.status_code}"
    return True, f"{settings.EMBEDDINGS_MODEL} at {settings.EMBEDDINGS_BASE_URL}"


def health_url(base_url: str) -> str:
    """The health check beside a server's /v1 API (the embedding service, llama-server, TEI, vLLM): 200 once its
    model is loaded, and it never takes a generation slot."""
    return f"{base_url.rstrip('/').removesuffix('/v1')}/health"


# --- the tokenizer, for chunking ----------------------------------------------------------------------------

_tokenizer_lock = threading.Lock()
_tokenizer = None


def load_tokenizer():
    """The model's tokenizer, loaded once per process. Worker start calls this, so no document waits for it and
    two threads never race on the first load."""
    global _tokenizer
    with _tokenizer_lock:
        if _tokenizer is None:
            from tokenizers import Tokenizer

            loaded = Tokenizer.from_file(str(model_directory() / "tokenizer.json"))
            # Used to count and cut text, not to feed the model: never truncate or pad.
            loaded.no_truncation()
            loaded.no_padding()
            _tokenizer = loaded
        return _tokenizer


def token_counts(texts: list[str]) -> list[int]:
    encoded = load_tokenizer().encode_batch(texts, add_special_tokens=False)
    return [len(item.ids) for item in encoded]


def token_offsets(text: str) -> list[tuple[int, int]]:
    """Character spans of each token in ``text`` (the tokenizer lowercases; spans point into the original)."""
    return load_tokenizer().encode(text, add_special_tokens=False).offsets
