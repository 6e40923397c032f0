"""Who speaks when: speaker embeddings of ~1.6 s slices (resemblyzer, computed while listening) are
clustered, each word takes the label of the slices around it, and segments are split where the speaker
changes. Labels are S1, S2… in order of first appearance. `diarization_error_rate` scores the result
against an RTTM reference (the standard metric: missed speech + false alarm + confusion, over reference
speech time, with the best label mapping).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from ..types import Segment, Word

SPLIT = 0.34               # cosine distance: a last merge below it means one speaker
MIN_SHARE = 0.05           # a cluster with less of the speech than this joins its nearest neighbour
MIN_TURN = 1.0             # seconds: a shorter speaker run inside a segment is not split off


@dataclass(frozen=True)
class Turn:
    """One line of the transcript: a segment (or part of one) said by one speaker."""

    id: int
    start: float
    end: float
    speaker: str
    text: str
    words: tuple[Word, ...] = ()


def cluster(embeddings: np.ndarray, split: float = SPLIT, max_speakers: int = 8) -> np.ndarray:
    """Cluster labels (0..k-1) for unit embeddings of ~1.6 s slices.

    Average linkage on cosine distance. One speaker unless the last merge joins groups further apart than
    `split` (one real voice's slices merge below ~0.31, two voices above ~0.39 in our measurements: slices
    are noisy, so a plain distance cut splits one voice into several). Then the number of speakers is the
    smallest k whose silhouette is within 5 % of the best; clusters under MIN_SHARE of the slices join their
    nearest big one.
    """
    n = len(embeddings)
    if n < 4:
        return np.zeros(n, int)
    from scipy.cluster.hierarchy import fcluster, linkage

    x = embeddings.astype(np.float64)
    tree = linkage(x, method="average", metric="cosine")
    if tree[-1, 2] < split:
        return np.zeros(n, int)
    distance = 1.0 - x @ x.T
    scores = {}
    for k in range(2, min(max_speakers, n - 1) + 1):
        labels = fcluster(tree, t=k, criterion="maxclust") - 1
        if labels.max() + 1 == k:
            scores[k] = silhouette(distance, labels)
    if not scores:
        return np.zeros(n, int)
    best = max(scores.values())
    k = min(k for k, v in scores.items() if v >= best - 0.05 * abs(best))
    labels = fcluster(tree, t=k, criterion="maxclust") - 1
    counts = np.bincount(labels)
    big = [c for c in range(len(counts)) if counts[c] >= max(MIN_SHARE * n, 2)] or [int(np.argmax(counts))]
    centres = {c: _unit(x[labels == c].mean(axis=0)) for c in big}
    for c in range(len(counts)):
        if c not in centres and counts[c]:
            mean = _unit(x[labels == c].mean(axis=0))
            labels[labels == c] = max(big, key=lambda b: float(mean @ centres[b]))
    _, labels = np.unique(labels, return_inverse=True)
    return labels


def silhouette(distance: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette of a clustering, from a precomputed distance matrix."""
    k = labels.max() + 1
    member = np.eye(k)[labels]                                  # (n, k)
    sizes = member.sum(axis=0)
    mean_to = distance @ member                                  # (n, k) sums
    own = sizes[labels] - 1
    a = mean_to[np.arange(len(labels)), labels] / np.maximum(own, 1)
    mean_to = mean_to / sizes
    mean_to[np.arange(len(labels)), labels] = np.inf
    b = mean_to.min(axis=1)
    s = np.where(own > 0, (b - a) / np.maximum(np.maximum(a, b), 1e-9), 0.0)
    return float(s.mean())


def _unit(v: np.ndarray) -> np.ndarray:
    return v / (np.linalg.norm(v) + 1e-9)


def _smooth(labels: np.ndarray, width: int = 3) -> np.ndarray:
    """A running majority over neighbouring slices: one stray slice does not make a speaker change."""
    if len(labels) < width:
        return labels
    out = labels.copy()
    half = width // 2
    for i in range(len(labels)):
        window = labels[max(0, i - half): i + half + 1]
        out[i] = np.bincount(window).argmax()
    return out


def assign_speakers(segments: Sequence[Segment], spans: np.ndarray, embeddings: np.ndarray,
                    joiner: str = " ", split: float = SPLIT) -> list[Turn]:
    """Speaker-labelled turns from transcript segments and the embedded slices (spans in seconds)."""
    if len(embeddings) == 0:
        return [Turn(i, s.start, s.end, "S1", s.text, s.words) for i, s in enumerate(segments)]
    order = np.argsort(spans[:, 0])
    spans, embeddings = spans[order], embeddings[order]
    labels = _smooth(cluster(embeddings, split))
    centres = spans.mean(axis=1)

    def label_at(a: float, b: float) -> int:
        inside = (spans[:, 0] < b) & (spans[:, 1] > a)
        if inside.any():
            overlap = np.minimum(spans[inside, 1], b) - np.maximum(spans[inside, 0], a)
            return int(np.bincount(labels[inside], weights=overlap).argmax())
        return int(labels[np.argmin(np.abs(centres - (a + b) / 2))])

    pieces: list[tuple[float, float, int, str, tuple[Word, ...]]] = []
    for seg in segments:
        if not seg.words:
            pieces.append((seg.start, seg.end, label_at(seg.start, seg.end), seg.text, ()))
            continue
        word_labels = [label_at(w.start, max(w.end, w.start + 0.1)) for w in seg.words]
        runs = _label_runs(list(seg.words), word_labels)
        if len(runs) == 1:
            pieces.append((seg.start, seg.end, runs[0][0], seg.text, seg.words))
            continue
        for label, words in runs:
            text = joiner.join(w.text for w in words).strip()
            pieces.append((words[0].start, words[-1].end, label, text, tuple(words)))
    names: dict[int, str] = {}
    turns = []
    for i, (a, b, label, text, words) in enumerate(pieces):
        names.setdefault(label, f"S{len(names) + 1}")
        turns.append(Turn(i, a, b, names[label], text, words))
    return turns


def _label_runs(words: list[Word], labels: list[int]) -> list[tuple[int, list[Word]]]:
    """Consecutive words with one label; a run shorter than MIN_TURN joins the longer neighbour."""
    runs: list[tuple[int, list[Word]]] = []
    for w, lab in zip(words, labels):
        if runs and runs[-1][0] == lab:
            runs[-1][1].append(w)
        else:
            runs.append((lab, [w]))
    changed = True
    while changed and len(runs) > 1:
        changed = False
        for i, (lab, ws) in enumerate(runs):
            if ws[-1].end - ws[0].start < MIN_TURN:
                j = i - 1 if i == len(runs) - 1 or (i > 0 and _dur(runs[i - 1][1]) >= _dur(runs[i + 1][1])) else i + 1
                if j < i:
                    runs[j] = (runs[j][0], runs[j][1] + ws)
                else:
                    runs[j] = (runs[j][0], ws + runs[j][1])
                del runs[i]
                changed = True
                break
        merged: list[tuple[int, list[Word]]] = []
        for lab, ws in runs:
            if merged and merged[-1][0] == lab:
                merged[-1] = (lab, merged[-1][1] + ws)
            else:
                merged.append((lab, ws))
        runs = merged
    return runs


def _dur(words: list[Word]) -> float:
    return words[-1].end - words[0].start


# --- scoring --------------------------------------------------------------------------------------------

def read_rttm(path: str | Path) -> list[tuple[float, float, str]]:
    """(start, end, speaker) turns of an RTTM file."""
    turns = []
    for line in Path(path).read_text().splitlines():
        f = line.split()
        if len(f) >= 8 and f[0] == "SPEAKER":
            start, dur = float(f[3]), float(f[4])
            turns.append((start, start + dur, f[7]))
    return turns


def diarization_error_rate(reference: Sequence[tuple[float, float, str]],
                           hypothesis: Sequence[tuple[float, float, str]], step: float = 0.01,
                           collar: float = 0.0) -> float:
    """(missed + false alarm + confusion) / reference speech, on a 10 ms grid, with the label mapping
    that makes the fewest errors. `collar` seconds around each reference boundary are not scored."""
    from itertools import permutations

    end = max([b for _, b, _ in reference] + [b for _, b, _ in hypothesis] + [0.0])
    n = int(np.ceil(end / step)) + 1
    ref_names = sorted({s for *_, s in reference})
    hyp_names = sorted({s for *_, s in hypothesis})
    ref = np.zeros((len(ref_names), n), bool)
    hyp = np.zeros((len(hyp_names), n), bool)
    for a, b, s in reference:
        ref[ref_names.index(s), int(a / step):int(b / step)] = True
    for a, b, s in hypothesis:
        hyp[hyp_names.index(s), int(a / step):int(b / step)] = True
    scored = np.ones(n, bool)
    if collar > 0:
        for a, b, _ in reference:
            for t in (a, b):
                scored[max(0, int((t - collar) / step)):int((t + collar) / step)] = False
    ref, hyp = ref[:, scored], hyp[:, scored]
    n_ref, n_hyp = ref.sum(axis=0), hyp.sum(axis=0)
    total = n_ref.sum()
    if total == 0:
        return 0.0
    best = 0
    k = max(len(ref_names), len(hyp_names))
    for perm in permutations(range(k), len(hyp_names)) if len(hyp_names) <= 7 else []:
        correct = sum(int((ref[r] & hyp[h]).sum()) for h, r in enumerate(perm) if r < len(ref_names))
        best = max(best, correct)
    errors = np.maximum(n_ref, n_hyp).sum() - best
    return float(errors / total)
