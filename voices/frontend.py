"""Text -> sentences -> phoneme ids for a Piper-style VITS, keeping which written word each phoneme
belongs to (for word timings, subtitles and lip-sync).

espeak-ng phonemizes whole clauses (so "a" is a schwa, not the letter name), but it may fuse short
words ("on the" -> "ɔnðə"). Each phoneme is mapped back to its word by aligning the clause's IPA with
the words' separate IPA (edit distance over characters).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipelines.text import split_sentences  # noqa: F401  (re-exported: the one splitter everywhere)

from .espeak import phonemize
from .normalize import normalize_token

PUNCTUATION = {",": ",", ";": ";", ":": ":", ".": ".", "!": "!", "?": "?"}
STRESS = "ˈˌ"


@dataclass
class Sentence:
    text: str
    phonemes: list[str] = field(default_factory=list)   # one symbol each (NFD characters)
    word_of: list[int | None] = field(default_factory=list)  # index into `words`, None for space/punctuation
    words: list[str] = field(default_factory=list)      # the written tokens
    pause_after: float = 0.0                             # seconds of silence after this sentence


def _clauses(tokens: list[str]) -> list[tuple[list[int], str]]:
    """Token indices of each clause and the punctuation that closes it."""
    clauses, current = [], []
    for i, token in enumerate(tokens):
        current.append(i)
        end = token.rstrip("\"')]")[-1:] if token.rstrip("\"')]") else ""
        if end == "." and i < len(tokens) - 1:
            continue  # inside a sentence a period ends an abbreviation ("Dr.", "U.S.A."), not a clause
        if end in PUNCTUATION:
            clauses.append((current, PUNCTUATION[end]))
            current = []
    if current:
        clauses.append((current, ""))
    return clauses


def _strip(ipa: str) -> str:
    return "".join(ch for ch in ipa if ch not in STRESS and not ch.isspace())


def _align(word_ipas: list[str], clause_ipa: str) -> list[int | None]:
    """Word index for every character of `clause_ipa` (None for spaces)."""
    chunks = clause_ipa.split(" ")
    if len(chunks) == len(word_ipas):  # the common case: one IPA word per written word
        labels: list[int | None] = []
        for i, chunk in enumerate(chunks):
            labels += [i] * len(chunk) + [None]
        return labels[:-1]
    source = [(ch, w) for w, ipa in enumerate(word_ipas) for ch in _strip(ipa)]
    target = [(k, ch) for k, ch in enumerate(clause_ipa) if ch not in STRESS and not ch.isspace()]
    n, m = len(source), len(target)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        row, prev, si = cost[i], cost[i - 1], source[i - 1][0]
        for j in range(1, m + 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (si != target[j - 1][1]))
    owner = [None] * m
    i, j = n, m
    while i > 0 and j > 0:
        if cost[i][j] == cost[i - 1][j - 1] + (source[i - 1][0] != target[j - 1][1]):
            owner[j - 1] = source[i - 1][1]
            i, j = i - 1, j - 1
        elif cost[i][j] == cost[i][j - 1] + 1:
            j -= 1
        else:
            i -= 1
    for k in range(m):  # inserted characters belong to the word before them
        if owner[k] is None:
            owner[k] = owner[k - 1] if k else next((o for o in owner if o is not None), 0)
    labels = [None] * len(clause_ipa)
    for (pos, _), w in zip(target, owner):
        labels[pos] = w
    for pos, ch in enumerate(clause_ipa):  # a stress mark belongs to the phoneme after it
        if ch in STRESS:
            labels[pos] = next((labels[p] for p in range(pos + 1, len(clause_ipa)) if labels[p] is not None), None)
    return labels


def sentence_phonemes(text: str, voice: str = "en-us") -> list[Sentence]:
    """One Sentence per spoken chunk: each clause (up to a comma, semicolon, colon or the sentence end) is its
    own model call. A fine-tuned clone garbles long inputs: on 24 long book sentences, 2 seeds, `lj-heard`
    was misheard at 17.6 / 14.9 % WER with each sentence one call, at 9.9 / 12.3 % clause by clause (joe
    7.9 -> 6.9 %, one seed), with the same length of speech; merging clauses under 40 phonemes gave 12.3 /
    13.4 % (bench/clause_chunks.py)."""
    tokens = text.split()
    spoken = [normalize_token(t, tokens[i + 1] if i + 1 < len(tokens) else "", tokens[i - 1] if i else "")
              for i, t in enumerate(tokens)]
    out = []
    for token_ids, punct in _clauses(tokens):
        word_ids, pieces = [], []
        for t in token_ids:
            for piece in re.sub(r"[^\w'\s-]", " ", spoken[t]).replace("_", " ").split():
                word_ids.append(t)
                pieces.append(piece)
        if not word_ids:
            continue
        clause_ipa = " ".join(phonemize(" ".join(pieces), voice).split())
        # each word's own IPA is needed only when espeak fused or split words in the clause
        fused = len(clause_ipa.split(" ")) != len(pieces)
        word_ipas = [phonemize(p, voice) for p in pieces] if fused else pieces
        labels = [None if w is None else word_ids[w] for w in _align(word_ipas, clause_ipa)]
        chunk = Sentence(text, list(clause_ipa), labels, tokens)
        if punct:
            chunk.phonemes.append(punct)
            chunk.word_of.append(None)
        out.append(chunk)
    return [s for s in out if s.phonemes]


def to_ids(phonemes: list[str], id_map: dict[str, list[int]]) -> tuple[list[int], list[int | None]]:
    """Piper's encoding: BOS, then each phoneme followed by a pad, then EOS. Returns the ids and, for each
    id, the index of the phoneme it carries (pads count with the phoneme before them)."""
    ids, owner = list(id_map["^"]) + list(id_map["_"]), [None, None]
    for k, p in enumerate(phonemes):
        if p not in id_map:
            continue  # a symbol the voice never saw: skip it, as Piper does
        ids += id_map[p] + id_map["_"]
        owner += [k] * (len(id_map[p]) + len(id_map["_"]))
    ids += id_map["$"]
    owner.append(None)
    return ids, owner


def text_ids(text: str, id_map: dict[str, list[int]], voice: str = "en-us") -> list[int]:
    """All of a text's phoneme ids in one sequence (sentences joined by a space), as training feeds them."""
    phonemes: list[str] = []
    for chunk in sentence_phonemes(text, voice):
        if phonemes:
            phonemes.append(" ")
        phonemes += chunk.phonemes
    return to_ids(phonemes, id_map)[0]
