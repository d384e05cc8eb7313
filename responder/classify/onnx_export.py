"""The one-time export of the int8 encoder, run as its own process by `export_int8`.

    python -m responder.classify.onnx_export MODEL_FOLDER TARGET_FILE

It loads torch, transformers and ONNX's tools, which a worker never needs again once the file
exists; in its own process their memory goes back to the system when it ends.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path
from typing import Any

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# Quantised: the matrix products and the fused attention. The embedding lookup stays fp32: it
# is a gather, not arithmetic, and quantising it moved the vectors further from fp32.
QUANTISED_OPS = ["MatMul", "Attention"]


def export(model_path: str, target: Path) -> None:
    """Export fp32 ONNX with torch, fuse it, quantise it (dynamic, per channel) into `target`.

    The export uses transformers' eager attention, whose graph ONNX Runtime's BERT optimiser
    recognises: each layer's attention becomes one fused op, quantised as QAttention, which is
    10-20% faster on emails than the separate products (bench/README.md, `## pipeline`)."""
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoModel

    model = AutoModel.from_pretrained(model_path, attn_implementation="eager").eval()

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
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about Python conditions in transformers' masking code and about
        # aten::index with negative indices. Both are about inputs this model never gets
        # (dynamic axes cover batch and length; no negative index): the exported model's
        # vectors match fp32 (tests/test_onnx_encoder.py) and so does its Banking77 accuracy.
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", message="Exporting aten::index operator")
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
    fused = target.parent / f"model.fused.{os.getpid()}.onnx"
    optimize_model(
        str(fp32),
        model_type="bert",
        num_heads=model.config.num_attention_heads,
        hidden_size=model.config.hidden_size,
    ).save_model_to_file(str(fused))
    partial = target.parent / f"model.int8.{os.getpid()}.onnx"
    quantize_dynamic(
        str(fused),
        str(partial),
        per_channel=True,
        weight_type=QuantType.QInt8,
        op_types_to_quantize=QUANTISED_OPS,
        # The fused ops are ONNX Runtime's own, which ONNX's shape inference cannot type.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )
    fp32.unlink(missing_ok=True)
    fused.unlink(missing_ok=True)
    os.replace(partial, target)  # atomic: a reader sees the whole file or none


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m responder.classify.onnx_export MODEL_FOLDER TARGET_FILE")
    export(sys.argv[1], Path(sys.argv[2]))
