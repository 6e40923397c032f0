"""Choosing which transcript lines a slow local LLM reads, when it cannot read them all in time.

On 2 CPU cores Qwen2.5 1.5B reads a prompt at ~50 tokens/s: the 21,753 tokens of an hour take 7.2 minutes
before it writes a word. So a long transcript is skimmed the way the MEAD summarizer skims: it is cut into
stretches of a few minutes, each gets a share of the reading budget in proportion to its length (nothing at
the end is dropped for lack of room), and in each the lines closest to the stretch's centroid (TF-IDF of
words, or of character pairs for Chinese) are read, near-repeats skipped. Ids stay the transcript's, so
chapter times and quotes are still checked against the full transcript.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from typing import Callable, Sequence

import numpy as np

STRETCH = 180.0        # seconds: each stretch of the talk gets its share of the reading budget
MIN_WORDS = 4          # shorter lines ("Yeah.", "Right, okay.") carry little; read only if nothing else is left
NEAR_REPEAT = 0.8      # a line this similar to one already chosen in its stretch is skipped

# Words that say nothing about a topic; also the capitalised openers of a summary point that are no names.
STOP = set("the a an and or but of to in on at for with is are was were be been it its this that these those i "
           "you we they he she so as by from not no yes my me our your his her him them their had have has do did "
           "does which what when where who why how all there here then than would could should will can one upon "
           "into out up just like yeah okay oh um uh well know think after before during while both each some "
           "many most several first finally also however".split())
_CJK = re.compile(r"[\u3400-\u9fff]")


def terms(text: str) -> list[str]:
    """Content words; for Chinese (no spaces) character pairs."""
    text = text.lower()
    words = [w for w in re.findall(r"[a-z0-9']+", text) if w not in STOP and len(w) > 2]
    chinese = "".join(_CJK.findall(text))
    return words + [chinese[i:i + 2] for i in range(len(chinese) - 1)]


def tfidf(texts: Sequence[str]) -> np.ndarray:
    """Unit-length TF-IDF rows (sublinear tf) over the transcript's own vocabulary."""
    bags = [Counter(terms(t)) for t in texts]
    df = Counter(w for bag in bags for w in bag)
    vocab = {w: i for i, w in enumerate(sorted(df))}
    n = len(texts)
    x = np.zeros((n, max(len(vocab), 1)), np.float32)
    for row, bag in enumerate(bags):
        for w, c in bag.items():
            x[row, vocab[w]] = (1 + math.log(c)) * math.log((1 + n) / (1 + df[w]))
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(norms > 0, norms, 1.0)


def stretches(starts: Sequence[float], seconds: float = STRETCH) -> list[list[int]]:
    """Consecutive line indices grouped by `seconds` of start time."""
    groups: list[list[int]] = []
    edge = None
    for i, start in enumerate(starts):
        if edge is None or start >= edge:
            groups.append([])
            edge = start + seconds
        groups[-1].append(i)
    return groups


def _words(text: str) -> int:
    return len(text.split()) if " " in text.strip() else len(text) // 2


def skim(texts: Sequence[str], starts: Sequence[float], tokens: Sequence[int], budget: int,
         vectors: Callable[[Sequence[str]], np.ndarray] = tfidf, stretch: float = STRETCH) -> list[int]:
    """Indices (in order) of the lines to read: about `budget` tokens in all, each stretch its share."""
    total = sum(tokens)
    if total <= budget:
        return list(range(len(texts)))
    v = vectors(texts)
    chosen: list[int] = []
    for group in stretches(starts, stretch):
        share = budget * sum(tokens[i] for i in group) / total
        centroid = v[group].sum(axis=0)
        centroid = centroid / (np.linalg.norm(centroid) or 1.0)
        score = {i: float(v[i] @ centroid) for i in group}
        ranked = sorted(group, key=lambda i: (_words(texts[i]) < MIN_WORDS, -score[i]))
        picked: list[int] = []
        used = 0
        for i in ranked:
            if used >= share or (picked and _words(texts[i]) < MIN_WORDS):
                break  # fillers come last in the ranking: only a stretch of nothing but fillers reads one
            if used + tokens[i] > share * 1.25 and picked:
                continue  # an over-long line would blow this stretch's share: try shorter ones
            if any(float(v[i] @ v[j]) > NEAR_REPEAT for j in picked):
                continue
            picked.append(i)
            used += tokens[i]
        chosen.extend(picked or ranked[:1])  # every stretch is read, at least its most central line
    return sorted(chosen)
