"""The int8 ONNX encoder: the same vectors as the fp32 model, grouped by padded tokens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.corpus import customer_email
from responder.classify.embedder import Embedder, packaged_model_path
from responder.classify.onnx_encoder import OnnxEncoder, export_int8
from responder.mail.parse import parse_email

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def encoder() -> OnnxEncoder:
    return OnnxEncoder(packaged_model_path(), ROOT / "var" / "models")


def email_texts(count: int) -> list[str]:
    return [parse_email(customer_email(n)).text for n in range(count)]


def test_long_emails_are_encoded_alone_and_short_queries_together(encoder: OnnxEncoder) -> None:
    lengths = [180, 12, 200, 14, 11, 15]
    groups = encoder.batches(lengths, batch_size=32)
    assert sorted(i for group in groups for i in group) == list(range(len(lengths)))
    assert [2] in groups and [0] in groups  # a long email is never padded beside another
    short_group = next(g for g in groups if 1 in g)
    assert sorted(short_group) == [1, 3, 4, 5]
    assert all(len(g) * max(lengths[i] for i in g) <= encoder.token_budget for g in groups)
    assert all(len(g) <= 2 for g in encoder.batches([12] * 10, batch_size=2))


def test_vectors_match_fp32_and_do_not_depend_on_their_neighbours(
    encoder: OnnxEncoder, embedder: Embedder
) -> None:
    texts = [*email_texts(6), "my card has not arrived yet", "why was I charged twice?"]
    int8 = encoder.encode(texts)
    fp32 = embedder.encode(texts)
    cosines = (int8 * fp32).sum(axis=1)
    assert cosines.min() > 0.97, cosines
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    # A text longer than half the token budget is always encoded alone, so what it is batched
    # with never changes its vector.
    lengths = [len(ids) for ids in encoder.tokenizer(texts)["input_ids"]]
    long = [i for i, n in enumerate(lengths) if 2 * n > encoder.token_budget]
    assert len(long) >= 3, lengths
    alone = encoder.encode([texts[long[0]]])
    assert np.array_equal(alone[0], int8[long[0]])
    reordered = encoder.encode(texts[::-1])[::-1]
    assert np.array_equal(reordered[long], int8[long])


def test_each_layers_attention_runs_as_one_quantised_op(encoder: OnnxEncoder) -> None:
    """The fused graph is what makes the int8 encoder fast; a transformers upgrade whose
    attention the optimiser no longer recognises would silently fall back to slower ops."""
    import onnx

    graph = onnx.load(str(export_int8(packaged_model_path(), ROOT / "var" / "models"))).graph
    ops = [node.op_type for node in graph.node]
    assert ops.count("QAttention") == 6  # all-MiniLM-L6-v2 has six layers
    assert "MatMulInteger" in ops


# A worker process: loads the encoder from a cache folder, encodes, reports its own peak RSS and
# that of the processes it ran (MB). Its own is VmHWM, the peak of its address space:
# ru_maxrss survives exec, so a child of a large pytest process would report pytest's peak.
_WORKER = """
import re, resource, sys
from pathlib import Path
from responder.classify.embedder import packaged_model_path
from responder.classify.onnx_encoder import OnnxEncoder
OnnxEncoder(packaged_model_path(), Path(sys.argv[1])).encode(["my bill doubled this month"])
status = Path("/proc/self/status").read_text()
own = int(re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1)) // 1024
children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
print(own, children)
"""


def test_workers_starting_on_a_fresh_machine_export_once_outside_their_own_memory(
    tmp_path: Path,
) -> None:
    """The export peaks at about 1.5 GB; run inside a worker, that was the worker's peak for
    good (a fresh machine's first bench run measured 1,501 MB against the 1.5 GB budget)."""
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    assert [w.returncode for w in workers] == [0, 0], [err[-2000:] for _, err in outputs]
    peaks = [tuple(int(n) for n in out.split()) for out, _ in outputs]
    assert max(own for own, _ in peaks) < 1_000, peaks
    exporter, waiter = sorted((children for _, children in peaks), reverse=True)
    assert exporter > 800, peaks  # one worker's child did the export ...
    assert waiter < 200, peaks  # ... while the other waited for it
    (folder,) = tmp_path.iterdir()
    assert sorted(f.name for f in folder.iterdir()) == ["export.lock", "model.int8.onnx"]


def test_a_failed_export_says_which_model_and_why(tmp_path: Path) -> None:
    model = tmp_path / "not-a-model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(RuntimeError, match=r"exporting the int8 encoder from .*not-a-model failed"):
        export_int8(str(model), tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*/model.int8.onnx"))
