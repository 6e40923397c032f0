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


def to_srt(transcript: Transcript) -> str:
    blocks = [f"{i}\n{_stamp(s.start, ',')} --> {_stamp(s.end, ',')}\n{s.text}\n"
              for i, s in enumerate(transcript.segments, 1)]
    return "\n".join(blocks)


def to_vtt(transcript: Transcript) -> str:
    blocks = [f"{_stamp(s.start, '.')} --> {_stamp(s.end, '.')}\n{s.text}\n" for s in transcript.segments]
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
