"""Transcript writers: txt, json, srt, vtt. Subtitles from word timings are reused by voice and avatar."""
from __future__ import annotations

import json

from typing import Sequence

from .types import Segment, Timing, Transcript, Word

FORMATS = ("txt", "json", "srt", "vtt")


def _stamp(seconds: float, sep: str) -> str:
    ms = int(round(max(seconds, 0.0) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def to_srt(transcript: Transcript, speakers: Sequence[str] | None = None) -> str:
    """SRT; with `speakers` (one label per segment) each cue starts with "S1: "."""
    label = (lambda i: f"{speakers[i]}: ") if speakers else (lambda i: "")
    blocks = [f"{i + 1}\n{_stamp(s.start, ',')} --> {_stamp(s.end, ',')}\n{label(i)}{s.text}\n"
              for i, s in enumerate(transcript.segments)]
    return "\n".join(blocks)


def to_vtt(transcript: Transcript, speakers: Sequence[str] | None = None) -> str:
    """WebVTT; with `speakers` each cue carries a voice tag (`<v S1>text`), which players show as the name."""
    label = (lambda i: f"<v {speakers[i]}>") if speakers else (lambda i: "")
    blocks = [f"{_stamp(s.start, '.')} --> {_stamp(s.end, '.')}\n{label(i)}{s.text}\n"
              for i, s in enumerate(transcript.segments)]
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


def caption_segments(words: Sequence[Timing], max_chars: int = 42, max_seconds: float = 5.0) -> tuple[Segment, ...]:
    """Group timed words into subtitle lines: break after a sentence end, or when a line gets long."""
    out: list[Segment] = []
    line: list[Timing] = []

    def flush() -> None:
        if line:
            out.append(Segment(line[0].start, line[-1].end, " ".join(w.label for w in line),
                               tuple(Word(w.label, w.start, w.end) for w in line)))
            line.clear()

    for w in words:
        if line and (len(" ".join(x.label for x in line)) + 1 + len(w.label) > max_chars
                     or w.end - line[0].start > max_seconds):
            flush()
        line.append(w)
        if w.label.rstrip("\"')]").endswith((".", "!", "?")):
            flush()
    flush()
    return tuple(out)


def words_to_srt(words: Sequence[Timing]) -> str:
    return to_srt(Transcript("", "", caption_segments(words)))
