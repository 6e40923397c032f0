"""Transcript writers: txt, json, srt, vtt. Subtitles from word timings are reused by voice and avatar."""
from __future__ import annotations

import json

from .types import Transcript

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
