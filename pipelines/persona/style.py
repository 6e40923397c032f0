"""The style card: how the person writes, measured from their own passages, saved as an editable TOML file.

Sentence length, phrases they keep using, how they greet and sign off, exclamation and emoji habits. The card
becomes one line of the system prompt; a rebuild recomputes it only if the user has not edited it.
"""
from __future__ import annotations

import json
import re
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field

from .keyword import STOP_CHARS, STOP_WORDS
from .sources import Passage, language_of, sentences_in

_GREETING = re.compile(r"^(hi|hey|hello|dear|good (?:morning|evening|afternoon)|morning|yo|hiya|你好|嗨|哈喽|亲爱的|早上好|晚上好|早安)\b[^.!?,，。！？]{0,20}[,，!！.。]?",
                       re.I)
_SIGN_OFF = re.compile(r"(?:^|[.!?。！？]\s*)((?:cheers|best|love|take care|talk soon|see you|bye|xoxo|warmly|yours|regards|"
                       r"再见|回头聊|保重|晚安|拜拜)[^.!?。！？]{0,20}[.!?。！？]?)\s*$", re.I)
_EMOJI = re.compile(r"[\U0001F300-\U0001FAFF\u2600-\u27BF]|[:;]-?[)(DP]")


@dataclass
class StyleCard:
    sentence_length: str = ""
    phrases: list[str] = field(default_factory=list)
    greetings: list[str] = field(default_factory=list)
    sign_offs: list[str] = field(default_factory=list)
    exclamations: str = ""
    emoji: str = ""
    languages: str = ""
    notes: str = ""          # free text the person adds: anything the numbers miss

    def describe(self) -> str:
        """The card as one line for the system prompt."""
        parts = [p for p in (self.sentence_length, self.languages) if p]
        if self.phrases:
            parts.append("phrases you often use: " + ", ".join(f'"{p}"' for p in self.phrases[:6]))
        if self.greetings:
            parts.append("you greet people with " + " or ".join(f'"{g}"' for g in self.greetings[:3]))
        if self.sign_offs:
            parts.append("you sign off with " + " or ".join(f'"{s}"' for s in self.sign_offs[:3]))
        for label, value in (("exclamation marks", self.exclamations), ("emoji", self.emoji)):
            if value:
                parts.append(f"{value} {label}")
        if self.notes:
            parts.append(self.notes)
        return "; ".join(parts)

    def to_toml(self) -> str:
        lines = ["# How this person writes, computed from their own texts by `dh persona build`.",
                 "# Edit freely: a rebuild keeps an edited card. `notes` is yours to fill in.", ""]
        for key, value in asdict(self).items():
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False)}")
        return "\n".join(lines) + "\n"

    @classmethod
    def from_dict(cls, data: dict) -> "StyleCard":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("phrases", "greetings", "sign_offs"):
            known[key] = [str(v) for v in known.get(key, [])]
        for key in ("sentence_length", "exclamations", "emoji", "languages", "notes"):
            known[key] = str(known.get(key, ""))
        return cls(**known)


def _rate(share: float) -> str:
    return "often uses" if share > 0.3 else "sometimes uses" if share > 0.08 else "rarely uses"


def _phrases(passages: list[Passage], limit: int = 8) -> list[str]:
    """Word sequences (English) or character sequences (Chinese) that recur across different passages."""
    seen: Counter = Counter()
    for p in passages:
        grams: set[str] = set()
        words = re.findall(r"[A-Za-z']+", p.text.lower())
        for n in (2, 3, 4):
            for i in range(len(words) - n + 1):
                gram = words[i:i + n]
                if sum(w not in STOP_WORDS for w in gram) >= 1 and gram[0] not in ("and", "the", "a", "of") \
                        and gram[-1] not in ("the", "a", "an", "and", "of", "to"):
                    grams.add(" ".join(gram))
        for run in re.findall(r"[\u4e00-\u9fff]+", p.text):
            for n in (2, 3, 4):
                for i in range(len(run) - n + 1):
                    gram = run[i:i + n]
                    if sum(c not in STOP_CHARS for c in gram) >= 2:
                        grams.add(gram)
        seen.update(grams)
    minimum = 2 if len(passages) < 40 else 3
    ranked = sorted(((n * len(g.split()) if " " in g else n * len(g) / 2, g) for g, n in seen.items() if n >= minimum),
                    reverse=True)
    chosen: list[str] = []
    for _, gram in ranked:
        if any(gram in c or c in gram for c in chosen):
            continue
        chosen.append(gram)
        if len(chosen) == limit:
            break
    return chosen


def compute_style(passages: list[Passage], chat_openings: list[str] | None = None) -> StyleCard:
    card = StyleCard()
    if not passages:
        return card
    en_lengths, zh_lengths = [], []
    exclaim = emoji = 0
    sentences = 0
    for p in passages:
        for s in sentences_in(p.text):
            sentences += 1
            if language_of(s) == "zh":
                zh_lengths.append(len(re.findall(r"[\u4e00-\u9fff]", s)))
            else:
                en_lengths.append(len(s.split()))
            exclaim += bool(re.search(r"[!！]", s))
            emoji += bool(_EMOJI.search(s))
    lengths = []
    if en_lengths:
        m = statistics.median(en_lengths)
        lengths.append(f"{'short' if m < 12 else 'medium' if m < 22 else 'long'} sentences (about {m:.0f} words)")
    if zh_lengths:
        m = statistics.median(zh_lengths)
        lengths.append(f"中文句子{'短' if m < 15 else '中等' if m < 30 else '长'}（约{m:.0f}字）")
    card.sentence_length = "writes " + " and ".join(lengths) if lengths else ""
    zh = sum(p.language == "zh" for p in passages)
    if zh and zh < len(passages):
        card.languages = f"writes in English and Chinese ({zh} of {len(passages)} passages Chinese)"
    elif zh:
        card.languages = "writes in Chinese"
    card.exclamations = _rate(exclaim / max(sentences, 1))
    card.emoji = _rate(emoji / max(sentences, 1))
    card.phrases = _phrases(passages)
    greets: Counter = Counter()
    signs: Counter = Counter()
    for text in [p.text for p in passages] + list(chat_openings or []):
        if m := _GREETING.match(text.strip()):
            greets[m.group(0).strip()] += 1
        if m := _SIGN_OFF.search(text.strip()):
            signs[m.group(1).strip()] += 1
    card.greetings = [g for g, _ in greets.most_common(3)]
    card.sign_offs = [s for s, _ in signs.most_common(3)]
    return card
