"""Small text helpers shared by stages: normalisation for scoring, Chinese script conversion."""
from __future__ import annotations

import re
import unicodedata

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def has_cjk(text: str) -> bool:
    return bool(_CJK.search(text))


def to_chinese_script(text: str, script: str) -> str:
    """Whisper often writes Mandarin in traditional characters; users mostly want one script, reliably."""
    if script == "as-is" or not has_cjk(text):
        return text
    from opencc import OpenCC  # opencc-python-reimplemented: pure Python, ships its dictionaries

    return _converter(OpenCC, "t2s" if script == "simplified" else "s2t").convert(text)


_converters: dict = {}


def _converter(cls, name: str):
    if name not in _converters:
        _converters[name] = cls(name)
    return _converters[name]


def normalize_for_scoring(text: str) -> str:
    """Lower case, no punctuation, single spaces: how WER references are compared."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\s']|_", " ", text)
    text = text.replace("'", "")
    return " ".join(text.split())


def _edit_distance(ref: list, hyp: list) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = normalize_for_scoring(reference).split(), normalize_for_scoring(hypothesis).split()
    return _edit_distance(ref, hyp) / max(len(ref), 1)


def char_error_rate(reference: str, hypothesis: str) -> float:
    ref = list(normalize_for_scoring(reference).replace(" ", ""))
    hyp = list(normalize_for_scoring(hypothesis).replace(" ", ""))
    return _edit_distance(ref, hyp) / max(len(ref), 1)
