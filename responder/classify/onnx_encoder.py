"""The sentence encoder as an int8 ONNX Runtime model, exported once from the local model folder.

Same maths as sentence-transformers for all-MiniLM-L6-v2 (tokenise, transformer, mean pooling
over the attention mask, unit length), at about twice the speed on CPU and a quarter of the
memory. The export runs locally from the packaged weights (no model hub) and is cached under
var/, keyed by the model folder, so every worker process on a machine reuses it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def cache_key(model_path: str) -> str:
    """Changes when the weights change, so a new model is exported again."""
    weights = Path(model_path) / "model.safetensors"
    stat = weights.stat() if weights.exists() else Path(model_path).stat()
    text = f"{Path(model_path).resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _max_length(model_path: str) -> int:
    config = Path(model_path) / "sentence_bert_config.json"
    if config.exists():
        return int(json.loads(config.read_text()).get("max_seq_length", 256))
    return 256


def export_int8(model_path: str, cache_dir: Path) -> Path:
    """Export fp32 ONNX with torch, quantise it (dynamic, per channel); return the int8 file."""
    target = cache_dir / f"minilm-{cache_key(model_path)}" / "model.int8.onnx"
    if target.exists():
        return target
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel

    target.parent.mkdir(parents=True, exist_ok=True)
    model = AutoModel.from_pretrained(model_path).eval()

    class KeywordWrapper(torch.nn.Module):
        """transformers 5 models take keyword arguments; the exporter passes positionals."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = torch.ones((2, 8), dtype=torch.long)
    fp32 = target.parent / f"model.fp32.{os.getpid()}.onnx"
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            KeywordWrapper(model),
            (sample, sample, torch.zeros_like(sample)),
            str(fp32),
            input_names=list(INPUTS),
            output_names=["last_hidden_state"],
            dynamic_axes={name: axes for name in [*INPUTS, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    partial = target.parent / f"model.int8.{os.getpid()}.onnx"
    quantize_dynamic(str(fp32), str(partial), per_channel=True, weight_type=QuantType.QInt8)
    fp32.unlink(missing_ok=True)
    os.replace(partial, target)  # atomic: a concurrent process sees the whole file or none
    return target


class OnnxEncoder:
    """encode(texts) -> unit float32 vectors, like SentenceTransformer.encode(normalize=True)."""

    def __init__(self, model_path: str, cache_dir: Path, threads: int = 0) -> None:
        import onnxruntime
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.max_length = _max_length(model_path)
        options = onnxruntime.SessionOptions()
        # Without the arena a worker returns activation memory after each batch: about 500 MB
        # less resident on long texts, at no measurable cost in speed.
        options.enable_cpu_mem_arena = False
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(
            str(export_int8(model_path, cache_dir)),
            options,
            providers=["CPUExecutionProvider"],
        )
        self.input_names = {i.name for i in self.session.get_inputs()}

    def get_sentence_embedding_dimension(self) -> int:
        return int(self.session.get_outputs()[0].shape[-1] or 384)

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        # Sorting by length keeps padding small within each batch; the order is restored below.
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.get_sentence_embedding_dimension()), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            chosen = order[start : start + batch_size]
            tokens = self.tokenizer(
                [texts[i] for i in chosen],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="np",
            )
            feed = {k: v.astype(np.int64) for k, v in tokens.items() if k in self.input_names}
            hidden = self.session.run(None, feed)[0]
            mask = tokens["attention_mask"][..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[chosen] = pooled / np.clip(norms, 1e-12, None)
        return out
