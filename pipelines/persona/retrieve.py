"""Hybrid retrieval over a person's passages, and the decision, in code, of whether anything is relevant.

Ranking mixes BM25 (normalised to the best passage) with the cosine of MiniLM sentence embeddings. Whether a
passage is relevant at all is decided from two absolute measures: the share of the question's rare terms it
contains (keyword coverage), and, for English questions, the embedding cosine. MiniLM knows little Chinese
(bench/persona.py: unrelated Chinese sentences score as close as related ones), so a Chinese question is
judged by its keywords alone, and the embedding only breaks ties in the ranking.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .keyword import BM25
from .sources import Passage, language_of

# Chosen on bench/persona.py's question set (English unanswerable questions reached cosine <= 0.24 and
# coverage <= 0.21 there; answerable ones cosine >= 0.36 or coverage >= 0.4):
KEYWORD_MIN = 0.5         # share of the question's (rarity-weighted) terms a passage must contain...
SEMANTIC_MIN = 0.35       # ...or, English only, the cosine a passage must reach, to count as relevant
SEMANTIC_WITH_KEYWORD = (0.2, 0.34)  # or both moderately: (cosine, coverage)
RELATED_MIN = 0.4         # a passage found through the best one (see `gather`) needs this ranking score


@dataclass(frozen=True)
class Hit:
    passage: Passage
    score: float          # ranking score, 0..1
    keyword: float        # keyword coverage, 0..1
    semantic: float       # embedding cosine (0 without embeddings)
    relevant: bool


class Retriever:
    def __init__(self, passages: list[Passage], vectors: np.ndarray | None = None, encode=None):
        """`encode(list[str]) -> unit vectors` embeds the question; None (or no vectors) = keywords only."""
        self.passages = passages
        self.bm25 = BM25([f"{p.heading} {p.text}" for p in passages])
        self.vectors = vectors.astype(np.float32) if vectors is not None and encode is not None else None
        self.encode = encode

    def search(self, query: str, k: int = 4) -> list[Hit]:
        if not self.passages:
            return []
        bm25 = np.asarray(self.bm25.scores(query))
        coverage = np.asarray(self.bm25.coverage(query))
        bm25_norm = bm25 / bm25.max() if bm25.max() > 0 else bm25
        chinese = language_of(query) == "zh"
        if self.vectors is not None:
            semantic = self.vectors @ self.encode([query])[0]
            weight = 0.2 if chinese else 0.5
            score = (1 - weight) * bm25_norm + weight * np.clip(semantic, 0, 1)
        else:
            semantic = np.zeros(len(self.passages))
            score = bm25_norm
        order = np.argsort(-score, kind="stable")[:k]
        hits = []
        for i in order:
            cos, cov = float(semantic[i]), float(coverage[i])
            if chinese or self.vectors is None:
                relevant = cov >= KEYWORD_MIN
            else:
                relevant = (cov >= KEYWORD_MIN or cos >= SEMANTIC_MIN
                            or (cos >= SEMANTIC_WITH_KEYWORD[0] and cov >= SEMANTIC_WITH_KEYWORD[1]))
            hits.append(Hit(self.passages[i], float(score[i]), cov, cos, relevant))
        return hits

    def gather(self, query: str, k: int = 4) -> list[Hit]:
        """The relevant passages for `query`, plus up to two found through the best one.

        A fact spread over two notes ("Every Christmas I visit my sister" / "My sister Lena lives in Oslo")
        shares no words with the question in its second half: searching again with the question and the best
        passage together finds it (pseudo-relevance feedback). Nothing relevant: an empty list.
        """
        hits = [h for h in self.search(query, k) if h.relevant]
        if not hits:
            return []
        chosen = {id(h.passage) for h in hits}
        related = [h for h in self.search(f"{query} {hits[0].passage.text}", k + 2)
                   if id(h.passage) not in chosen and h.score >= RELATED_MIN][:2]
        return (hits + related)[:k]
