"""bf16 is used only because retrieval quality holds; remote embeddings are a configuration switch."""

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from documents import embeddings
from documents.embedding_model import model_directory

TEXTS = [
    "The cat sat on the mat.",
    "Quarterly revenue grew by four percent in the third quarter.",
    "To reset your password, open the account page and choose 'Change password'.",
    "Die Katze schläft auf dem Sofa.",
    "Project Zephyr has a budget of 4.2 million euros and is led by Ada Moreau.",
]


def test_bf16_embeddings_match_fp32_closely():
    fp32 = SentenceTransformer(str(model_directory()), device="cpu")
    bf16 = SentenceTransformer(str(model_directory()), device="cpu", model_kwargs={"dtype": torch.bfloat16})
    a = fp32.encode(TEXTS, normalize_embeddings=True)
    b = np.asarray(bf16.encode(TEXTS), dtype=np.float32)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    cosines = (a * b).sum(axis=1)
    assert cosines.min() > 0.99
    # Rankings agree: each text's nearest other text is the same under both.
    assert ((a @ a.T - 2 * np.eye(5)).argmax(axis=1) == (b @ b.T - 2 * np.eye(5)).argmax(axis=1)).all()


def test_an_openai_compatible_embeddings_api_can_replace_the_local_model(fake_llm, settings):
    # What setting EMBEDDINGS_BASE_URL does at start-up.
    settings.EMBEDDED_EMBEDDINGS, settings.EMBEDDINGS_BASE_URL = False, fake_llm.base_url
    settings.EMBEDDINGS_MODEL = "fake-embed"
    vectors = embeddings.embed_texts(["alpha", "beta", "alpha"])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.allclose(vectors[0], vectors[2])
    request = fake_llm.requests[-1]
    assert (request["model"], request["dimensions"], request["input"]) == (
        "fake-embed",
        384,
        ["alpha", "beta", "alpha"],
    )
    assert embeddings.readiness() == (True, f"fake-embed at {fake_llm.base_url}")  # a hosted API is trusted


def test_a_configured_embeddings_api_with_a_health_url_is_asked_there(settings):
    settings.EMBEDDED_EMBEDDINGS, settings.EMBEDDINGS_BASE_URL = False, "http://127.0.0.1:9/v1"
    settings.EMBEDDINGS_HEALTH_URL = "http://127.0.0.1:9/health"
    ready, detail = embeddings.readiness()
    assert ready is False
    assert "unreachable" in detail
