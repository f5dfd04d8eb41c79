import os

import numpy as np

from documents import embeddings


def test_the_packaged_model_returns_384_unit_vectors_offline():
    vectors = embeddings.embed_texts(["The cat sat on the mat.", "Quarterly revenue grew by 4%."])
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert vectors.shape == (2, 384)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)


def test_similar_sentences_are_closer_than_unrelated_ones():
    cat, kitten, finance = embeddings.embed_texts(
        ["A cat is sleeping on the sofa.", "A kitten naps on the couch.", "The bond market fell sharply today."]
    )
    assert float(cat @ kitten) > float(cat @ finance) + 0.2


def test_the_model_is_loaded_once_per_process():
    embeddings.embed_query("first")
    loaded = embeddings._model
    embeddings.embed_query("second")
    assert embeddings._model is loaded
    assert embeddings.readiness() == (True, "all-MiniLM-L6-v2 loaded")
