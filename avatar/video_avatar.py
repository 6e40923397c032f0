"""A short real video of the person as the avatar (what LiveTalking/MuseTalk do with a learned model; here
with the landmark warp): the clip plays forwards and backwards for as long as the speech lasts, keeping its own
blinks and head motion, and only the mouth and jaw are re-animated to the new speech. Landmarks are tracked
frame by frame (each frame's crop comes from the previous frame's points) and smoothed over time, so the
warped mouth does not jitter."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from pipelines.errors import UserInputError
from pipelines.stages import Progress, no_progress
from pipelines.types import Speech, Video

from .face import detect_face
from .mesh import MeshWarp, Pose, Rig
from .mouth import MouthPainter
from .video import VideoWriter

VIDEO_SUFFIXES = {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi"}
MAX_SECONDS = 30.0
MIN_SECONDS = 1.0
MAX_W, MAX_H = 1280, 720        # the clip is held in memory: 30 s of 720p is ~2 GB, of 1080p would be 4.5


def is_video(path) -> bool:
    return Path(str(path)).suffix.lower() in VIDEO_SUFFIXES


def load_clip(path: str | os.PathLike, max_seconds: float = MAX_SECONDS) -> tuple[list[np.ndarray], float]:
    """Frames (BGR, even sides, at most 1080p) of the first `max_seconds` of a video, and its frame rate."""
    import av
    import cv2

    path = Path(path)
    if not path.is_file():
        raise UserInputError("video not found" if not path.exists() else "is not a file", path=path)
    frames = []
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise UserInputError("has no video track", path=path)
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 25)
            for frame in container.decode(video=0):
                image = frame.to_ndarray(format="bgr24")
                h, w = image.shape[:2]
                scale = min(1.0, MAX_W / w, MAX_H / h) if w >= h else min(1.0, MAX_H / w, MAX_W / h)
                if scale < 1:
                    image = cv2.resize(image, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
                h, w = image.shape[:2]
                frames.append(np.ascontiguousarray(image[: h - h % 2, : w - w % 2]))
                if len(frames) >= max_seconds * fps:
                    break
    except av.error.FFmpegError as e:
        raise UserInputError(f"not a video PyAV can read ({e.__class__.__name__})", path=path) from None
    if not 5 <= fps <= 60:
        fps = 25.0
    if len(frames) < MIN_SECONDS * fps:
        raise UserInputError(f"video is too short ({len(frames) / fps:.1f} s); give 5-30 s of the person facing "
                             "the camera", path=path)
    return frames, fps


def track_landmarks(frames: list[np.ndarray], source: str = "video", progress: Progress = no_progress) -> np.ndarray:
    """(frames, 468, 3) landmarks: Haar + FaceMesh on the first frame, then each frame from the last one's
    points (re-found with Haar when lost), smoothed with a short Gaussian over time."""
    from .landmarks import FaceMesh, _plausible, box_of

    mesh = FaceMesh.shared()
    first = detect_face(frames[0], source)
    pts, score = mesh.refine(frames[0], first.face)
    if score < 0.5 or not _plausible(pts, first.face):
        raise UserInputError("no face landmarks found in the first frame; use a clip of the person facing the "
                             "camera", path=source)
    out = np.empty((len(frames), 468, 3))
    out[0] = pts
    for i in range(1, len(frames)):
        new, score = mesh.run(frames[i], box_of(out[i - 1]))
        if score < 0.5:
            try:
                new, score = mesh.refine(frames[i], detect_face(frames[i], source).face)
            except UserInputError:
                score = 0.0
        out[i] = new if score >= 0.5 else out[i - 1]
        if i % 50 == 0:
            progress(0.1 * i / len(frames), f"tracked the face in {i} of {len(frames)} frames")
    # smoothing over time (sigma = 1 frame): landmark jitter would make the warped mouth shimmer
    kernel = np.exp(-0.5 * np.arange(-2, 3) ** 2)
    kernel /= kernel.sum()
    padded = np.concatenate([out[:1].repeat(2, 0), out, out[-1:].repeat(2, 0)])
    return sum(k * padded[j:j + len(out)] for j, k in enumerate(kernel))


def pingpong(i: int, n: int) -> int:
    """Frame of a clip of n frames played forwards, then backwards, then forwards... (no jump at the seams)."""
    if n <= 1:
        return 0
    k = i % (2 * n - 2)
    return k if k < n else 2 * n - 2 - k


class VideoAvatar:
    """A clip prepared for re-animation: frames, tracked landmarks, one mesh topology, mouth colours."""

    def __init__(self, path, progress: Progress = no_progress):
        self.frames, self.fps = load_clip(path)
        self.points = track_landmarks(self.frames, str(path), progress)
        H, W = self.frames[0].shape[:2]
        boxes = [Rig(p, (H, W)).roi for p in self.points[:: max(1, len(self.points) // 20)]]
        # one region for the whole clip (the union of the face regions), so one mesh topology serves all
        self.roi = (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))
        rig0 = Rig(self.points[0], (H, W), self.roi)
        self.mesh = MeshWarp(rig0)
        self.painter = MouthPainter(self.frames[0], rig0, own_teeth=False)

    def render_frame(self, i: int, open_: float, spread: float) -> np.ndarray:
        k = pingpong(i, len(self.frames))
        frame = self.frames[k]
        rig = Rig(self.points[k], frame.shape, self.roi)
        dst = rig.deform(Pose(open=open_, spread=spread))
        region = self.mesh.warp(frame, dst, rig.source(frame))
        x0, y0, x1, y1 = self.roi
        self.painter.rig = rig
        self.painter.paint(region, dst, (x0, y0))
        out = frame.copy()
        out[y0:y1, x0:x1] = region
        return out


_last: dict = {}


def prepared(path, progress: Progress = no_progress) -> VideoAvatar:
    """The clip decoded and tracked once, reused while the same file is rendered again (a conversation
    renders one video per reply)."""
    p = Path(str(path))
    key = (str(p.resolve()), p.stat().st_mtime_ns, p.stat().st_size) if p.is_file() else None
    if key is None or key not in _last:
        avatar = VideoAvatar(path, progress)
        _last.clear()
        if key is not None:
            _last[key] = avatar
        return avatar
    return _last[key]


def render_video_avatar(path, track, speech: Speech, out: Path, crf: int = 20, captions=None,
                        progress: Progress = no_progress) -> Video:
    """`track` is a MouthTrack at the clip's frame rate (see `clip_fps`)."""
    from .captions import burn_caption

    avatar = prepared(path, progress)
    n = len(track)
    h, w = avatar.frames[0].shape[:2]
    with VideoWriter(out, w, h, avatar.fps, speech.audio, crf=crf) as writer:
        for i in range(n):
            frame = avatar.render_frame(i, float(track.open[i]), float(track.spread[i]))
            if captions is not None and captions[i]:
                frame = burn_caption(frame, captions[i])
            writer.write(frame)
            if i % 25 == 0 or i == n - 1:
                progress(0.1 + 0.9 * (i + 1) / n, f"rendered {i + 1} of {n} frames")
    return Video(out, n / avatar.fps, avatar.fps, (w, h))


def clip_fps(path) -> float:
    """The clip's frame rate; also the cheap check that it is a readable video."""
    import av

    if not Path(str(path)).is_file():
        raise UserInputError("video not found", path=path)
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 25)
    except (av.error.FFmpegError, IndexError):
        raise UserInputError("not a video PyAV can read", path=path) from None
    return fps if 5 <= fps <= 60 else 25.0
