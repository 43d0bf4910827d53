"""The NumPy MiniLM backend gives the vectors sentence-transformers gives for the same packaged
model (reference vectors in data/minilm_reference.json were made with sentence-transformers and
PyTorch, see its "made_with")."""

import json
from pathlib import Path

import numpy as np
import pytest

from crm import embeddings

REFERENCE = json.loads((Path(__file__).parent / "data" / "minilm_reference.json").read_text())


def test_matches_sentence_transformers_on_every_reference_text():
    vectors = embeddings.embed(REFERENCE["texts"])
    reference = np.array(REFERENCE["vectors"], dtype=np.float32)
    assert vectors.shape == (len(REFERENCE["texts"]), 384)
    cosines = (vectors * reference).sum(axis=1)
    assert cosines.min() > 0.9999, dict(zip(REFERENCE["texts"], cosines.round(6)))


def test_vectors_are_unit_length_and_order_is_kept():
    texts = ["a much longer text about enterprise logistics software and its buyers", "short", "mid length text"]
    together = embeddings.embed(texts)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    for i, text in enumerate(texts):  # batching by length must not mix rows up
        assert float(together[i] @ embeddings.embed([text])[0]) > 0.9999


def test_meaning_is_closer_than_unrelated_text():
    query, close, far = embeddings.embed(["payments startup CTO", "Chief technology officer of a fintech company",
                                          "Florist selling wedding bouquets"])
    assert query @ close > query @ far + 0.2


def test_empty_input_gives_an_empty_array():
    assert embeddings.embed([]).shape == (0, 384)


def test_backend_is_pluggable(settings):
    settings.KITH_EMBEDDING_BACKEND = "tests.crm.test_embeddings.CountingBackend"
    assert embeddings.embed(["one", "two"]).shape == (2, 384)
    assert isinstance(embeddings.backend(), CountingBackend)


class CountingBackend:
    dimensions = 384

    def encode(self, texts):
        out = np.zeros((len(texts), 384), dtype=np.float32)
        out[:, 0] = 1.0
        return out


@pytest.fixture(autouse=True)
def _default_backend():
    yield
    embeddings._load.cache_clear()
