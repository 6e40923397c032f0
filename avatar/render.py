"""The `warp` lip-sync engine: portrait + speech -> MP4 whose mouth follows the speech, frame-exact.

With phoneme timings (speech from our voice stage) the mouth follows the phonemes; with plain audio it
follows loudness and spectral shape. Blinks and a slow, small head sway keep it from looking frozen. Frames
are rendered and encoded one by one: memory stays flat however long the audio.

The face is rendered from FaceMesh landmarks (`landmark_renderer.py`: triangulated lip/jaw warp, mouth
interior from the portrait's colours, eyelid blinks); the Haar-box `WarpRenderer` is the fallback when no
landmarks are found, and serves a mouth box given by hand (`mouth = "x,y,w,h"`, for drawings). A video as
the face (`video_avatar.py`) loops back and forth with only its mouth re-animated.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.audio import load_audio
from pipelines.errors import UserInputError
from pipelines.stages import Progress, no_progress
from pipelines.types import Speech, Video

from .captions import burn_caption  # noqa: F401  (where it always was)
from .eyes import blink_curve
from .face import detect_face, layout_from_mouth, load_portrait, parse_box
from .video import VideoWriter
from .visemes import MouthTrack, from_audio, from_phonemes, with_loudness
from .warp import Pose, WarpRenderer


def head_motion(n_frames: int, fps: float, energy: np.ndarray, seed: int = 0):
    """Slow sway (sum of incommensurate sines) plus a small nod that follows speech energy."""
    rng = np.random.default_rng(seed + 1)
    t = np.arange(n_frames) / fps
    def sway(amp):
        f = rng.uniform(0.05, 0.25, 3)
        p = rng.uniform(0, 2 * np.pi, 3)
        return amp * sum(np.sin(2 * np.pi * fi * t + pi) for fi, pi in zip(f, p)) / 3
    nod = np.convolve(energy, np.ones(9) / 9, "same") if len(energy) else 0
    return sway(1.2), sway(1.5), sway(1.0) + 1.5 * nod


@dataclass(frozen=True)
class _Options:
    fps: float = 25.0
    head_motion: bool = True
    blinks: bool = True
    seed: int = 0
    mouth: str = ""          # "x,y,w,h" in portrait pixels, when face detection fails
    captions: bool = False   # burn the words in at the bottom
    crf: int = 20
    renderer: str = "auto"   # auto: FaceMesh landmarks, Haar boxes when none are found; or "landmarks" / "haar"


class WarpLipSync:
    Config = _Options

    def __init__(self, config: _Options | None = None):
        self.config = config or self.Config()
        if not 5 <= self.config.fps <= 60:
            raise UserInputError(f"fps must be between 5 and 60, got {self.config.fps}")
        if self.config.renderer not in ("auto", "landmarks", "haar"):
            raise UserInputError(f"renderer must be auto, landmarks or haar, got '{self.config.renderer}'")

    def render(self, face, speech: Speech | os.PathLike | str, out, *, progress: Progress = no_progress) -> Video:
        c = self.config
        from .video_avatar import is_video

        if is_video(face):
            return self._render_video(face, speech, Path(out), progress)
        portrait, layout, speech = portrait_and_speech(face, speech, c.mouth)
        return render_track(portrait, layout, mouth_track(speech, c.fps), speech, Path(out), c, progress)

    def _render_video(self, face, speech, out: Path, progress: Progress) -> Video:
        """A short video of the person as the avatar: it loops back and forth, only the mouth follows the speech."""
        from .video_avatar import clip_fps, render_video_avatar

        if not isinstance(speech, Speech):
            speech = Speech(load_audio(speech, 22050))
        if speech.audio.duration < 0.05:
            raise UserInputError("speech is empty", path=speech.audio.source)
        fps = clip_fps(face)
        track = mouth_track(speech, fps)
        captions = _caption_lookup(speech, fps, len(track)) if self.config.captions else None
        return render_video_avatar(face, track, speech, out, self.config.crf, captions, progress)


def mouth_track(speech: Speech, fps: float) -> MouthTrack:
    audio = speech.audio
    if speech.phonemes:
        return with_loudness(from_phonemes(speech.phonemes, audio.duration, fps), audio)
    return from_audio(audio, fps)


def make_renderer(portrait: np.ndarray, layout, choice: str = "auto"):
    """The landmark renderer when FaceMesh finds the face (and no mouth box was given by hand), else the
    Haar-box renderer."""
    if choice != "haar" and layout.detected:
        from . import landmarks

        if choice == "landmarks" or landmarks.available():
            points = landmarks.find_landmarks(portrait, layout.face)
            if points is not None:
                from .landmark_renderer import LandmarkRenderer

                return LandmarkRenderer(portrait, points)
            if choice == "landmarks":
                raise UserInputError("no face landmarks found on the portrait; try renderer = 'haar'")
    return WarpRenderer(portrait, layout)


def portrait_and_speech(face, speech, mouth: str = ""):
    """Checked inputs for any lip-sync engine: the portrait, where its mouth is, and speech to follow."""
    portrait = load_portrait(face)
    layout = layout_from_mouth(parse_box(mouth), portrait.shape) if mouth else detect_face(portrait, str(face))
    if not isinstance(speech, Speech):
        speech = Speech(load_audio(speech, 22050))
    if speech.audio.duration < 0.05:
        raise UserInputError("speech is empty", path=speech.audio.source)
    return portrait, layout, speech


def render_track(portrait, layout, track: MouthTrack, speech: Speech, out: Path, c: _Options,
                 progress: Progress) -> Video:
    renderer = make_renderer(portrait, layout, c.renderer)
    n = len(track)
    blinks = blink_curve(n, c.fps, c.seed, track.open) if c.blinks else np.zeros(n)
    tilt, dx, dy = head_motion(n, c.fps, track.open, c.seed) if c.head_motion else (np.zeros(n),) * 3
    captions = _caption_lookup(speech, c.fps, n) if c.captions else None
    h, w = portrait.shape[:2]
    with VideoWriter(out, w, h, c.fps, speech.audio, crf=c.crf) as writer:
        for i in range(n):
            frame = renderer.render(Pose(float(track.open[i]), float(track.spread[i]), float(blinks[i]),
                                         float(tilt[i]), float(dx[i]), float(dy[i])))
            if captions is not None and captions[i]:
                frame = burn_caption(frame, captions[i])
            writer.write(frame)
            if i % 25 == 0 or i == n - 1:
                progress((i + 1) / n, f"rendered {i + 1} of {n} frames")
    return Video(out, n / c.fps, c.fps, (w, h))


def _caption_lookup(speech: Speech, fps: float, n: int) -> list[str]:
    from pipelines.formats import caption_segments

    lines = [""] * n
    for seg in caption_segments(speech.words):
        for i in range(int(seg.start * fps), min(int(np.ceil(seg.end * fps)) + 1, n)):
            lines[i] = seg.text
    return lines
