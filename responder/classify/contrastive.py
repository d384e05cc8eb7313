"""Contrastive fine-tuning of the sentence encoder on a few labelled examples (SetFit-style).

With ten examples per label a frozen encoder leaves classes that it never learned to tell
apart on top of each other. Each step takes two examples from each of several distinct labels
and pulls the pair together while pushing the other labels' examples away (in-batch negatives,
so no false negatives); the head is then fitted on the tuned embeddings as usual.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer


def fine_tune(
    model_path: str,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    steps: int = 200,
    labels_per_step: int = 16,
    learning_rate: float = 3e-5,
    scale: float = 20.0,
    max_seq_length: int = 64,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> SentenceTransformer:
    import torch
    import torch.nn.functional as F
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(seed)
    rng = random.Random(seed)
    model = SentenceTransformer(model_path, device="cpu")
    model.max_seq_length = max_seq_length
    by_label: dict[str, list[str]] = defaultdict(list)
    for text, label in zip(texts, labels, strict=True):
        by_label[label].append(text)
    usable = sorted(label for label, found in by_label.items() if len(found) >= 2)
    if len(usable) < 2:
        raise ValueError("contrastive tuning needs two labels with at least two examples each")
    width = min(labels_per_step, len(usable))
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / max(steps // 10, 1))
    )
    model.train()
    for step in range(steps):
        chosen = rng.sample(usable, width)
        pairs = [rng.sample(by_label[label], 2) for label in chosen]
        features = model.preprocess([a for a, _ in pairs] + [b for _, b in pairs])
        vectors = F.normalize(model(features)["sentence_embedding"], dim=-1)
        anchors, positives = vectors[:width], vectors[width:]
        logits = anchors @ positives.T * scale
        target = torch.arange(width)
        loss = (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target)) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if progress and (step + 1) % 50 == 0:
            progress(f"contrastive step {step + 1}/{steps}: loss {loss.item():.3f}")
    model.eval()
    return model
