"""Text helpers every flow and `voices` share: sentences and paragraphs, scoring normalisation, Chinese script."""
from __future__ import annotations

import functools
import re
import unicodedata

QUOTES = str.maketrans({"‘": "'", "’": "'", "‚": "'", "“": '"', "”": '"', "„": '"', "–": "-", "—": " - ",
                        "…": "...", "\u00a0": " "})
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


def normalize_for_scoring(text: str, language: str = "en") -> str:
    """How WER references and transcripts are compared. English goes through Whisper's own normaliser, so
    "harbour" and "harbor", "twenty-five" and "25", "Mr." and "mister" count as the same words (as in
    Whisper's published WERs); other languages and Chinese: lower case, no punctuation, single spaces."""
    return _normalizer(text, language)(text)


def _normalizer(reference: str, language: str):
    if language.lower().startswith("en") and not has_cjk(reference):
        return _english_normalizer()
    return _basic_normalize


def _basic_normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[^\w\s']|_", " ", text)
    text = text.replace("'", "")
    return " ".join(text.split())


@functools.cache
def _english_normalizer():
    from whisper_normalizer.english import EnglishTextNormalizer   # openai/whisper's, without torch (MIT)

    return EnglishTextNormalizer()


def _edit_distance(ref: list, hyp: list) -> int:
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (r != h))
        prev = cur
    return prev[-1]


def word_error_rate(reference: str, hypothesis: str, language: str = "en") -> float:
    normalize = _normalizer(reference, language)   # the reference decides, so both sides are treated alike
    ref, hyp = normalize(reference).split(), normalize(hypothesis).split()
    return _edit_distance(ref, hyp) / max(len(ref), 1)


def char_error_rate(reference: str, hypothesis: str) -> float:
    """Characters after the plain normalisation: for Chinese, and for numbers and symbols however spelled."""
    ref = list(_basic_normalize(reference).replace(" ", ""))
    hyp = list(_basic_normalize(hypothesis).replace(" ", ""))
    return _edit_distance(ref, hyp) / max(len(ref), 1)


def clean_text(text: str) -> str:
    """NFKC and plain quotes/dashes, so every later step sees one spelling of each character."""
    return unicodedata.normalize("NFKC", text).translate(QUOTES)


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs at blank lines, each with its whitespace collapsed."""
    out = []
    for paragraph in re.split(r"\n\s*\n", clean_text(text)):
        paragraph = " ".join(paragraph.split())
        if paragraph:
            out.append(paragraph)
    return out


def sentences_of(paragraph: str) -> list[str]:
    """The sentences of one paragraph; "Dr. Smith" or "U.S." do not end one, Chinese 。！？ do."""
    pieces, start = [], 0
    for m in _SENTENCE_END.finditer(paragraph):
        if _ABBREV_END.search(paragraph[start:m.end()]):
            continue
        pieces.append(paragraph[start:m.end()].strip())
        start = m.end()
    pieces.append(paragraph[start:].strip())
    return [p for p in pieces if p]


_SENTENCE_END = re.compile(r"[.!?…。！？]+[\"')\]]*(?=\s+[\"'(\[]?[A-Z0-9\u4e00-\u9fff])"
                           r"|(?:[。！？]|(?<=[\u4e00-\u9fff])[!?])+[”’\"'」』）)\]]*(?=\S)")
# the second branch: Chinese ends need no space after them (NFKC has turned ！？ into !?)
_ABBREV_END = re.compile(r"\b(?:Mr|Mrs|Ms|Dr|Prof|Jr|Sr|St|vs|etc|e\.g|i\.e|No|Mt|approx|Jan|Feb|Mar|Apr|Jun|Jul|"
                         r"Aug|Sep|Sept|Oct|Nov|Dec|[A-Z])\.$")


def split_sentences(text: str, sentence_pause: float = 0.3, paragraph_pause: float = 0.7) -> list[tuple[str, float]]:
    """(sentence, pause after) pairs; blank lines are paragraph breaks with a longer pause."""
    out: list[tuple[str, float]] = []
    for paragraph in split_paragraphs(text):
        out += [(p, sentence_pause) for p in sentences_of(paragraph)]
        if out:
            out[-1] = (out[-1][0], paragraph_pause)
    return out
