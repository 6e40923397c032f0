"""AAC audio in an MP4 box (.m4a / .m4b) with chapter markers, title/author metadata and a cover picture.

Written with PyAV's own ffmpeg: its mp4 muxer stores chapters both as Nero `chpl` atoms and as a QuickTime
chapter text track (what Apple Books, VLC, mpv and ffmpeg read), metadata as iTunes `ilst` tags, and an
attached picture as the `covr` atom.

The chapters are streamed: each chapter is decoded (or sliced, for arrays) a block at a time and encoded
straight into the file, so memory stays flat however long the book; ffmpeg switches to 64-bit chunk offsets
by itself past 4 GB. The file is written beside its final name and renamed only when complete, so a killed
run never leaves a half-written audiobook under the real name.

    marks = write_chaptered_audio("book.m4b", ["ch1.wav", "ch2.wav"], ["Chapter 1", "Chapter 2"],
                                  metadata={"title": "Alice", "artist": "Lewis Carroll"}, cover=jpeg_bytes)
    info = read_chaptered_audio("book.m4b")     # info.chapters[0].title == "Chapter 1"
"""
from __future__ import annotations

import io
import os
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Mapping, Sequence, Union

import numpy as np

from .errors import UserInputError
from .stages import Progress, no_progress
from .types import Audio

ChapterSource = Union[str, os.PathLike, Audio, tuple]   # a file, an Audio, or (samples, sample_rate)
BLOCK_SECONDS = 20.0
_MS = Fraction(1, 1000)
_BRANDS = {".m4b": "M4B ", ".m4a": "M4A ", ".mp4": "isom"}


@dataclass(frozen=True)
class ChapterMark:
    title: str
    start: float   # seconds
    end: float


@dataclass(frozen=True)
class ChapteredAudio:
    """What a real parser (PyAV's ffmpeg demuxer) reads back from a chaptered file."""

    path: Path
    duration: float
    sample_rate: int
    codec: str
    chapters: tuple[ChapterMark, ...]
    metadata: dict = field(default_factory=dict)
    cover: bytes | None = None


def _blocks(source: ChapterSource, sample_rate: int) -> Iterator[np.ndarray]:
    """Mono float32 blocks of one chapter at `sample_rate`, never the whole chapter at once for files."""
    import av

    if isinstance(source, Audio) or isinstance(source, tuple):
        audio = source if isinstance(source, Audio) else Audio(np.asarray(source[0]), int(source[1]))
        if audio.sample_rate != sample_rate:
            from .audio import resample
            audio = resample(audio, sample_rate)
        step = int(BLOCK_SECONDS * sample_rate)
        for start in range(0, len(audio.samples), step):
            yield audio.samples[start:start + step]
        return
    path = Path(source)
    if not path.is_file():
        raise UserInputError("chapter audio file not found", path=path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise UserInputError("has no audio track", path=path)
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    yield out.to_ndarray().reshape(-1)
            for out in resampler.resample(None):
                yield out.to_ndarray().reshape(-1)
    except av.error.FFmpegError as exc:
        raise UserInputError(f"cannot be decoded as audio ({exc})", path=path) from exc


def _first_rate(source: ChapterSource) -> int:
    import av

    if isinstance(source, Audio):
        return source.sample_rate
    if isinstance(source, tuple):
        return int(source[1])
    with av.open(str(source)) as container:
        return container.streams.audio[0].rate


def _cover_jpeg_or_png(cover: bytes | str | os.PathLike) -> tuple[bytes, str, int, int]:
    """(bytes, codec, width, height); pictures in other formats (GIF, WebP...) are re-encoded as JPEG."""
    import av

    data = Path(cover).read_bytes() if not isinstance(cover, (bytes, bytearray)) else bytes(cover)
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            frame = next(container.decode(stream))
    except (av.error.FFmpegError, IndexError, StopIteration) as exc:
        where = None if isinstance(cover, (bytes, bytearray)) else cover
        raise UserInputError(f"the cover picture cannot be read ({exc})", path=where) from exc
    if data[:3] == b"\xff\xd8\xff":
        return data, "mjpeg", frame.width, frame.height
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return data, "png", frame.width, frame.height
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = frame.width - frame.width % 2, frame.height - frame.height % 2
    encoder.pix_fmt, encoder.time_base = "yuvj420p", Fraction(1, 25)
    picture = frame.reformat(width=encoder.width, height=encoder.height, format="yuvj420p")
    packets = list(encoder.encode(picture)) + list(encoder.encode(None))
    return b"".join(bytes(p) for p in packets), "mjpeg", encoder.width, encoder.height


def write_chaptered_audio(out_path: str | os.PathLike, chapters: Sequence[ChapterSource], titles: Sequence[str],
                          *, metadata: Mapping[str, str] | None = None, cover: bytes | str | os.PathLike | None = None,
                          sample_rate: int | None = None, bitrate: int = 64000,
                          progress: Progress = no_progress) -> list[ChapterMark]:
    """Encode `chapters` (files, `Audio`s or (samples, rate) pairs) one after another into one AAC .m4b/.m4a.

    `titles` name the chapters; `metadata` keys are ffmpeg's (title, artist, album, album_artist, genre, date,
    comment, language...). Returns the chapter marks as written (seconds, from the encoded sample counts).
    """
    import av

    out_path = Path(out_path)
    if len(chapters) != len(titles):
        raise ValueError(f"{len(chapters)} chapters but {len(titles)} titles")
    if not chapters:
        raise UserInputError("no chapters to write", path=out_path)
    rate = int(sample_rate or _first_rate(chapters[0]))
    picture = _cover_jpeg_or_png(cover) if cover is not None else None
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out_path.name}.", suffix=".part", dir=out_path.parent)
    os.close(fd)
    brand = _BRANDS.get(out_path.suffix.lower(), "isom")
    marks: list[ChapterMark] = []
    try:
        container = av.open(tmp, "w", format="mp4", options={"brand": brand})
        try:
            stream = container.add_stream("aac", rate=rate)
            stream.layout = "mono"
            stream.bit_rate = int(bitrate)
            # ffmpeg's "fast" AAC coder: half the encoding time of the default two-loop search, no audible
            # difference for speech at this bitrate (an audiobook is encoded twice: chapters, then the M4B)
            stream.codec_context.options = {"aac_coder": "fast"}
            art = None
            if picture is not None:
                art = container.add_stream(picture[1])
                art.width, art.height = picture[2], picture[3]
                art.pix_fmt = "yuvj420p" if picture[1] == "mjpeg" else "rgb24"
                art.time_base = Fraction(1, 90000)
                art.disposition = av.stream.Disposition.attached_pic
            for key, value in (metadata or {}).items():
                if value:
                    container.metadata[str(key)] = str(value)
            if art is not None:
                packet = av.Packet(picture[0])
                packet.stream, packet.pts, packet.dts, packet.time_base = art, 0, 0, art.time_base
                packet.is_keyframe = True
                container.mux(packet)
            written = 0
            for index, (source, title) in enumerate(zip(chapters, titles)):
                start = written
                for block in _blocks(source, rate):
                    if not len(block):
                        continue
                    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block, np.float32)[None, :],
                                                       format="flt", layout="mono")
                    frame.sample_rate, frame.pts = rate, written
                    written += len(block)
                    container.mux(stream.encode(frame))
                marks.append(ChapterMark(str(title), start / rate, written / rate))
                progress((index + 1) / len(chapters), f"chapter {index + 1}/{len(chapters)} encoded")
            container.mux(stream.encode(None))
            container.set_chapters([
                {"id": i + 1, "start": round(m.start * 1000), "end": round(m.end * 1000), "time_base": _MS,
                 "metadata": {"title": m.title}} for i, m in enumerate(marks)])
        finally:
            container.close()
        os.replace(tmp, out_path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return marks


def read_chaptered_audio(path: str | os.PathLike) -> ChapteredAudio:
    """Chapters, tags, duration and cover of an .m4b/.m4a/.mka... as ffmpeg's demuxer reads them."""
    import av

    path = Path(path)
    try:
        with av.open(str(path)) as container:
            audio = container.streams.audio[0]
            chapters = tuple(
                ChapterMark(str(c["metadata"].get("title", "")), float(c["start"] * c["time_base"]),
                            float(c["end"] * c["time_base"])) for c in container.chapters())
            cover = None
            pictures = [s for s in container.streams.video
                        if s.disposition & av.stream.Disposition.attached_pic]
            if pictures:
                for packet in container.demux(pictures[0]):
                    if packet.size:
                        cover = bytes(packet)
                        break
            duration = float(container.duration / av.time_base) if container.duration else 0.0
            return ChapteredAudio(path, duration, audio.rate, audio.codec_context.name, chapters,
                                  dict(container.metadata), cover)
    except (av.error.FFmpegError, IndexError) as exc:
        raise UserInputError(f"cannot be read as chaptered audio ({exc})", path=path) from exc
