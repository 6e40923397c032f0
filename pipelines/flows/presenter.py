"""Presenter mode (the "digital newscaster"): a Markdown script becomes a captioned talking-head video with
a title card, a lower-third name band, and slides beside the presenter where the script shows images.

Script format (all but the paragraphs optional):

    ---
    name: Ada Lovelace
    role: Evening news
    background: studio.jpg
    ---
    # Tonight's headlines

    The first paragraph, spoken over the studio background.

    ![](chart.png)
    Paragraphs after an image are spoken beside it, until the next image (`![](none)` clears it).

Each paragraph is voiced on its own (so its slide starts exactly when it does), joined with a pause, lip-synced
in one pass by any LipSync stage, then composed frame by frame onto the broadcast layout and encoded as it goes.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserInputError
from ..jobs import scaled
from ..stages import TTS, LipSync, Progress, no_progress
from ..text import clean_text
from ..types import Audio, Speech, Timing, Video

PARAGRAPH_PAUSE = 0.8
_IMAGE = re.compile(r"^!\[[^\]]*\]\(([^)]*)\)\s*$")


@dataclass(frozen=True)
class Paragraph:
    text: str
    slide: Path | None = None


@dataclass(frozen=True)
class Script:
    title: str
    paragraphs: tuple[Paragraph, ...]
    name: str = ""
    role: str = ""
    background: Path | None = None


@dataclass(frozen=True)
class Presentation:
    video: Video
    words: tuple[Timing, ...]       # timed to the final video (after the title card), for subtitles
    paragraph_starts: tuple[float, ...]


def parse_script(path: str | Path) -> Script:
    """Read a presenter script (see the module docstring); image paths are relative to the script."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError("script not found", path=path)
    text = clean_text(path.read_text(encoding="utf-8"))
    meta: dict[str, str] = {}
    if text.lstrip().startswith("---"):
        head, sep, rest = text.lstrip()[3:].partition("\n---")
        if sep:
            for line in head.splitlines():
                key, colon, value = line.partition(":")
                if colon:
                    meta[key.strip().lower()] = value.strip()
            text = rest
    title, paragraphs, slide, lines = "", [], None, []

    def flush():
        body = " ".join(" ".join(lines).split())
        if body:
            paragraphs.append(Paragraph(body, slide))
        lines.clear()

    for raw in text.splitlines():
        line = raw.strip()
        image = _IMAGE.match(line)
        if not line:
            flush()
        elif line.startswith("#"):
            flush()
            if not title:
                title = line.lstrip("#").strip()
        elif image:
            flush()
            target = image.group(1).strip()
            if target.lower() in ("", "none"):
                slide = None
            else:
                slide = (path.parent / target).resolve()
                if not slide.is_file():
                    raise UserInputError(f"slide image '{target}' not found", path=path)
        else:
            lines.append(line)
    flush()
    if not paragraphs:
        raise UserInputError("the script has nothing to say (no paragraphs of text)", path=path)
    background = None
    if meta.get("background"):
        background = (path.parent / meta["background"]).resolve()
        if not background.is_file():
            raise UserInputError(f"background image '{meta['background']}' not found", path=path)
    return Script(title or path.stem.replace("_", " ").title(), tuple(paragraphs), meta.get("name", ""),
                  meta.get("role", ""), background)


def voice_script(script: Script, tts: TTS, progress: Progress = no_progress) -> tuple[Speech, list[float]]:
    """All paragraphs voiced and joined with pauses; returns the speech and each paragraph's start time."""
    pieces, phonemes, words, starts = [], [], [], []
    t, rate = 0.0, None
    for i, paragraph in enumerate(script.paragraphs):
        speech = tts.synthesize(paragraph.text)
        audio = speech.audio
        if rate is None:
            rate = audio.sample_rate
        elif audio.sample_rate != rate:
            from ..audio import resample

            audio = resample(audio, rate)
        starts.append(t)
        phonemes += [Timing(p.label, p.start + t, p.end + t) for p in speech.phonemes]
        words += [Timing(w.label, w.start + t, w.end + t) for w in speech.words]
        pause = np.zeros(int(PARAGRAPH_PAUSE * rate), np.float32) if i < len(script.paragraphs) - 1 else np.zeros(0, np.float32)
        pieces += [audio.samples, pause]
        t += audio.duration + len(pause) / rate
        progress((i + 1) / len(script.paragraphs), f"voiced paragraph {i + 1} of {len(script.paragraphs)}")
    audio = Audio(np.concatenate(pieces), rate)
    text = "\n\n".join(p.text for p in script.paragraphs)
    return Speech(audio, text, tuple(phonemes), tuple(words)), starts


def present(script: Script, tts: TTS, lipsync: LipSync, face: str | Path, out: str | Path, *,
            captions: bool = True, width: int = 1280, height: int = 720, title_seconds: float = 3.0,
            progress: Progress = no_progress) -> Presentation:
    """Voice, lip-sync and compose `script` into `out` (MP4)."""
    import av

    from avatar.compose import Compositor, Layout, load_image
    from avatar.video import VideoWriter
    from pipelines.formats import caption_segments

    out = Path(out)
    if width % 2 or height % 2 or width < 320 or height < 240:
        raise UserInputError(f"video size must be even and at least 320x240, got {width}x{height}")
    speech, starts = voice_script(script, tts, scaled(progress, 0.0, 0.25))
    with tempfile.TemporaryDirectory(prefix="dh-present-") as work:
        head_path = Path(work) / "presenter.mp4"
        head = lipsync.render(face, speech, head_path, progress=scaled(progress, 0.25, 0.8))
        fps = head.fps
        layout = Layout(width, height, title_seconds)
        background = load_image(script.background) if script.background else None
        compositor = Compositor(layout, script.title, script.name, script.role, background)
        n_title = int(round(title_seconds * fps))
        lead = n_title / fps
        audio = Audio(np.concatenate([np.zeros(int(round(lead * speech.audio.sample_rate)), np.float32),
                                      speech.audio.samples]), speech.audio.sample_rate)
        segments = caption_segments(speech.words) if captions else ()
        compose = scaled(progress, 0.8, 1.0)
        with VideoWriter(out, width, height, fps, audio) as writer:
            for i in range(n_title):
                writer.write(compositor.title(i / fps))
            with av.open(str(head_path)) as container:
                total = container.streams.video[0].frames or int(head.duration * fps)
                for i, frame in enumerate(container.decode(video=0)):
                    t = (i + 0.5) / fps
                    caption = next((s.text for s in segments if s.start <= t <= s.end + 0.1), "")
                    k = int(np.searchsorted(starts, t, side="right")) - 1
                    slide = script.paragraphs[max(k, 0)].slide
                    writer.write(compositor.frame(frame.to_ndarray(format="bgr24"), t, caption, slide))
                    if i % 25 == 0:
                        compose((i + 1) / max(total, 1), f"composed {i + 1} of {total} frames")
            frames = writer.frames
    words = tuple(Timing(w.label, w.start + lead, w.end + lead) for w in speech.words)
    return Presentation(Video(out, frames / fps, fps, (width, height)), words, tuple(s + lead for s in starts))
