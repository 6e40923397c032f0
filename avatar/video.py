"""Stream frames into an MP4 (H.264 + AAC) with PyAV's bundled ffmpeg: one frame in memory at a time."""
from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from pipelines.types import Audio


class VideoWriter:
    """`with VideoWriter(path, w, h, fps, audio) as v: v.write(frame)`; written to a temp name and moved
    into place only when complete, so an interrupted render never leaves a broken file under `path`."""

    def __init__(self, path: str | os.PathLike, width: int, height: int, fps: float = 25.0,
                 audio: Audio | None = None, crf: int = 20, preset: str = "veryfast"):
        import av

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix or '.mp4'}")
        self.container = av.open(str(self.tmp), "w", format="mp4")
        self.rate = Fraction(fps).limit_denominator(1001)
        self.video = self.container.add_stream("libx264", rate=self.rate)
        self.video.width, self.video.height, self.video.pix_fmt = width, height, "yuv420p"
        self.video.options = {"crf": str(crf), "preset": preset, "movflags": "+faststart"}
        self.audio = audio
        self.frames = 0
        self.fps = fps
        if audio is not None:
            self.astream = self.container.add_stream("aac", rate=audio.sample_rate)
            self.astream.layout = "mono"

    def write(self, frame_bgr: np.ndarray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(frame_bgr, format="bgr24")
        frame.pts = self.frames
        frame.time_base = 1 / self.rate
        for packet in self.video.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def _write_audio(self) -> None:
        import av

        stream, audio = self.astream, self.audio
        size = stream.codec_context.frame_size or 1024
        samples = np.clip(audio.samples, -1, 1).astype(np.float32)
        for i in range(0, len(samples), size):
            chunk = samples[i:i + size]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            frame.sample_rate = audio.sample_rate
            frame.pts = i
            frame.time_base = Fraction(1, audio.sample_rate)
            for packet in stream.encode(frame):
                self.container.mux(packet)
        for packet in stream.encode(None):
            self.container.mux(packet)

    def close(self, ok: bool = True) -> None:
        for packet in self.video.encode(None):
            self.container.mux(packet)
        if self.audio is not None and ok:
            self._write_audio()
        self.container.close()
        if ok:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close(ok=exc_type is None)
