"""Transcript writers: txt, json, srt, vtt. Subtitles from word timings are reused by voice and avatar."""
from __future__ import annotations

import json

from typing import Sequence

from .text import has_cjk, sentences_of
from .types import Segment, Timing, Transcript, Word

FORMATS = ("txt", "json", "srt", "vtt")


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(max(seconds, 0.0) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _cues(transcript: Transcript, speakers: Sequence[str] | None = None) -> list[tuple[Segment, str | None]]:
    """Readable cues, each with its segment's speaker (or None): segments with word timings are re-cut from
    them; others are kept as they are."""
    out: list[tuple[Segment, str | None]] = []
    for i, segment in enumerate(transcript.segments):
        who = speakers[i] if speakers else None
        if segment.words:
            timed = [Timing(w.text, w.start, w.end) for w in segment.words]
            out += [(cue, who) for cue in subtitle_cues(timed)]
        else:
            out.append((segment, who))
    return out


def to_srt(transcript: Transcript, speakers: Sequence[str] | None = None) -> str:
    """SRT; with `speakers` (one label per segment) each cue starts with "S1: "."""
    return "\n".join(f"{i}\n{_stamp(s.start, ',')} --> {_stamp(s.end, ',')}\n{f'{who}: ' if who else ''}{s.text}\n"
                     for i, (s, who) in enumerate(_cues(transcript, speakers), 1))


def _srt(cues: Sequence[Segment]) -> str:
    return "\n".join(f"{i}\n{_stamp(s.start, ',')} --> {_stamp(s.end, ',')}\n{s.text}\n"
                     for i, s in enumerate(cues, 1))


def to_vtt(transcript: Transcript, speakers: Sequence[str] | None = None) -> str:
    """WebVTT; with `speakers` each cue carries a voice tag (`<v S1>text`), which players show as the name."""
    blocks = [f"{_stamp(s.start, '.')} --> {_stamp(s.end, '.')}\n{f'<v {who}>' if who else ''}{s.text}\n"
              for s, who in _cues(transcript, speakers)]
    return "WEBVTT\n\n" + "\n".join(blocks)


def chapters_vtt(chapters: Sequence[tuple[float, float, str]]) -> str:
    """WebVTT chapters (`<track kind="chapters">`): one cue per (start, end, title)."""
    blocks = [f"Chapter {i}\n{_stamp(a, '.')} --> {_stamp(b, '.')}\n{' '.join(t.split())}\n"
              for i, (a, b, t) in enumerate(chapters, 1)]
    return "WEBVTT\n\n" + "\n".join(blocks)


def to_json(transcript: Transcript) -> str:
    return json.dumps(transcript.to_dict(), ensure_ascii=False, indent=2)


def render(transcript: Transcript, fmt: str) -> str:
    if fmt == "txt":
        return transcript.text + "\n"
    return {"json": to_json, "srt": to_srt, "vtt": to_vtt}[fmt](transcript)


def _tight(ch: str) -> bool:
    """Chinese characters and full-width punctuation are written without spaces between them."""
    return bool(ch) and (has_cjk(ch) or "\u3000" <= ch <= "\u303f" or "\uff00" <= ch <= "\uffef")


def join_words(labels: Sequence[str]) -> str:
    """Words as text: spaces between words, none between Chinese characters (Whisper times each one)."""
    text = ""
    for label in labels:
        if text and not (_tight(text[-1]) and _tight(label[:1])):
            text += " "
        text += label
    return text


def sentence_ends(words: Sequence[Timing]) -> set[int]:
    """Indices of the words that end a sentence, by the one splitter the voice uses ("Dr." ends none)."""
    text, word_ends = "", []
    for w in words:
        if text and not (_tight(text[-1]) and _tight(w.label[:1])):
            text += " "
        text += w.label
        word_ends.append(len(text))
    ends, pos, i = set(), 0, 0
    for sentence in sentences_of(text):
        found = text.find(sentence, pos)
        if found < 0:  # cannot happen: sentences_of only strips and splits
            continue
        pos = found + len(sentence)
        while i + 1 < len(word_ends) and word_ends[i + 1] <= pos:
            i += 1
        if word_ends and word_ends[i] <= pos:
            ends.add(i)
    return ends


def _segment(line: Sequence[Timing], text: str) -> Segment:
    return Segment(line[0].start, line[-1].end, text, tuple(Word(w.label, w.start, w.end) for w in line))


def caption_segments(words: Sequence[Timing], max_chars: int = 42, max_seconds: float = 5.0) -> tuple[Segment, ...]:
    """One-line captions (burnt into video): break after a sentence end, or when a line gets long."""
    return _group(words, max_chars, 1, max_seconds)


def subtitle_cues(words: Sequence[Timing], max_line: int = 42, max_lines: int = 2,
                  max_seconds: float = 7.0) -> tuple[Segment, ...]:
    """Subtitle cues as people read them: at most `max_lines` lines of `max_line` characters and
    `max_seconds` on screen, a new cue after each sentence; lines broken at the most even word gap."""
    cues = _group(words, max_line, max_lines, max_seconds)
    return tuple(Segment(c.start, c.end, _wrap(c.text, [w.text for w in c.words], max_line, max_lines), c.words)
                 for c in cues)


def _wrap(text: str, labels: list[str], max_line: int, max_lines: int) -> str:
    if len(text) <= max_line or max_lines < 2 or len(labels) < 2:
        return text
    best = None
    for k in range(1, len(labels)):  # the split whose longer line is shortest
        top, bottom = join_words(labels[:k]), join_words(labels[k:])
        score = max(len(top), len(bottom))
        if best is None or score < best[0]:
            best = (score, f"{top}\n{bottom}")
    return best[1]


def _lines_needed(labels: list[str], max_line: int) -> int:
    """Lines the words fill when each line takes words while it stays within `max_line` characters."""
    lines, current = 0, []
    for label in labels:
        if current and len(join_words(current + [label])) > max_line:
            lines, current = lines + 1, []
        current.append(label)
    return lines + (1 if current else 0)


def _group(words: Sequence[Timing], max_line: int, max_lines: int, max_seconds: float) -> tuple[Segment, ...]:
    out: list[Segment] = []
    line: list[Timing] = []
    ends = sentence_ends(words)

    def flush() -> None:
        if line:
            out.append(_segment(line, join_words([w.label for w in line])))
            line.clear()

    for i, w in enumerate(words):
        if line and (_lines_needed([x.label for x in line] + [w.label], max_line) > max_lines
                     or w.end - line[0].start > max_seconds):
            flush()
        line.append(w)
        if i in ends:
            flush()
    flush()
    return tuple(out)


def words_to_srt(words: Sequence[Timing]) -> str:
    """Subtitles for speech with word timings (`dh say --srt`, `dh render --srt`)."""
    return _srt(subtitle_cues(words))
