"""Keyword search that works for Chinese as well as English: BM25 over words (English, lightly stemmed) and
over Chinese characters and character pairs (no word segmenter needed: a pair like 长大 or 杭州 is usually
a word or part of one, and a missing segmenter dictionary cannot fail).

`coverage` answers the question retrieval has to decide in code: how much of what the question asks about
(weighted by how rare each term is in the person's writing) appears in a passage at all.
"""
from __future__ import annotations

import math
import re
from collections import Counter

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

STOP_WORDS = set("""
a an the and or but if then so than that this these those there here of in on at to for from by with about as
into over under up down out off again just also very too not no nor only own same such can could will would
shall should may might must do does did doing done have has had having be is am are was were been being it its
it's i me my mine myself you your yours yourself we our ours us he him his she her hers they them their theirs
what which who whom whose when where why how all any both each few more most other some much many one ever
tell say said know think thought remember like feel please let thing things anything something really
""".split())
# single characters too common in Chinese questions and answers to say what a passage is about
STOP_CHARS = set("的了是在我你他她它们吗呢吧啊呀么什怎哪谁为这那有和与就都也还很又个一不没去来说过着把被给让对从到"
                 "只座条本件位次些种张")  # and measure words
STOP_PAIRS = {"什么", "怎么", "为什", "哪里", "哪儿", "哪个", "你的", "我的", "你们", "我们", "是什", "么样", "怎样",
              "有没", "没有", "是不", "不是", "还是", "这个", "那个", "一个", "你在", "我在", "你是", "我是", "告诉",
              "记得", "觉得", "认为", "你对", "对于", "关于", "请问", "可以", "喜欢"}


def stem(word: str) -> str:
    """A deliberately small English stemmer: plural and verb endings, so "walks"/"walked"/"walking" meet."""
    for suffix, keep in (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("ly", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)] + keep
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiouls":  # "stopp" -> "stop"
        word = word[:-1]
    return word


def terms(text: str) -> list[str]:
    """Index terms: stemmed English content words, Chinese content characters and character pairs."""
    text = text.lower()
    out = [stem(w) for w in _WORD.findall(text) if w not in STOP_WORDS and len(w) > 1]
    for run in _CJK_RUN.findall(text):
        out += [c for c in run if c not in STOP_CHARS]
        out += [run[i:i + 2] for i in range(len(run) - 1)
                if run[i:i + 2] not in STOP_PAIRS and run[i] not in STOP_CHARS and run[i + 1] not in STOP_CHARS]
    return out


class BM25:
    """Okapi BM25 over a small corpus (a person's passages: hundreds to a few thousand)."""

    def __init__(self, documents: list[str], k1: float = 1.4, b: float = 0.75):
        self.k1, self.b = k1, b
        self.docs = [Counter(terms(d)) for d in documents]
        self.lengths = [sum(c.values()) for c in self.docs]
        self.avg_length = (sum(self.lengths) / len(self.lengths)) if self.docs else 1.0
        frequency: Counter = Counter()
        for counts in self.docs:
            frequency.update(counts.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in frequency.items()}
        self.unseen_idf = math.log(1 + (n + 0.5) / 0.5)

    def scores(self, query: str) -> list[float]:
        q = set(terms(query))
        out = []
        for counts, length in zip(self.docs, self.lengths):
            s = 0.0
            for t in q:
                f = counts.get(t)
                if f:
                    s += self.idf[t] * f * (self.k1 + 1) / (f + self.k1 * (1 - self.b + self.b * length / self.avg_length))
            out.append(s)
        return out

    def coverage(self, query: str) -> list[float]:
        """Per passage, the rarity-weighted share of the question's terms it contains (0..1)."""
        q = set(terms(query))
        # a Chinese character pair found nowhere, made of characters that are found, is most likely two words
        # side by side ("猫叫" in 猫叫什么): its characters already carry its meaning
        q = {t for t in q if t in self.idf or not (len(t) == 2 and _CJK_RUN.fullmatch(t)
                                                   and t[0] in self.idf and t[1] in self.idf)}
        weights = {t: self.idf.get(t, self.unseen_idf) for t in q}
        total = sum(weights.values())
        if not total:
            return [0.0] * len(self.docs)
        return [sum(w for t, w in weights.items() if t in counts) / total for counts in self.docs]
