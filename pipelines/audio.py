"""Decode, resample, check and save audio without a system ffmpeg (PyAV bundles its own libraries)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .errors import UserInputError
from .types import Audio

ASR_SAMPLE_RATE = 16000
SILENCE_PEAK = 10 ** (-50 / 20)   # a peak below -50 dBFS holds no usable speech


def load_audio(path: str | os.PathLike, sample_rate: int = ASR_SAMPLE_RATE) -> Audio:
    """Decode any audio or video file PyAV can read to mono float32 at `sample_rate`."""
    import av

    path = _existing_file(path)
    container = _open_container(path)
    chunks: list[np.ndarray] = []
    with container:
        if not container.streams.audio:
            raise UserInputError("has no audio track (is it an audio or video file?)", path=path)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        try:
            for frame in container.decode(stream):
                chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
        except av.FFmpegError as exc:
            done = sum(map(len, chunks)) / sample_rate
            raise UserInputError(
                f"audio is corrupt or truncated: decoding failed after {done:.1f} s ({_reason(exc)})",
                path=path) from None
        declared = _declared_duration(container, stream)
    missing = _wav_missing_bytes(path)
    if missing:
        raise UserInputError(f"WAV file is truncated: {missing} bytes of audio data are missing", path=path)
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    decoded = len(samples) / sample_rate
    if decoded == 0:
        raise UserInputError("contains no audio samples (empty or truncated)", path=path)
    if declared and decoded < 0.9 * declared - 0.5:
        raise UserInputError(
            f"audio is truncated: its header promises {declared:.1f} s but only {decoded:.1f} s decode",
            path=path)
    return Audio(samples, sample_rate, source=str(path))


def _declared_duration(container, stream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / 1_000_000
    return None


def _existing_file(path: str | os.PathLike) -> Path:
    """The path, if it names a non-empty file; else the error that says which of those it is not."""
    path = Path(path)
    if not path.exists():
        raise UserInputError("file not found", path=path)
    if path.is_dir():
        raise UserInputError("is a folder, not an audio file", path=path)
    if path.stat().st_size == 0:
        raise UserInputError("file is empty (0 bytes)", path=path)
    return path


def _open_container(path: Path):
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise UserInputError(f"not a readable audio or video file ({_reason(exc)})", path=path) from None


def _wav_missing_bytes(path: Path) -> int:
    """ffmpeg takes a WAV's length from the file size, so compare the header's data size ourselves."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return 0
        size = path.stat().st_size
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return 0
            cid, length = chunk[:4], int.from_bytes(chunk[4:], "little")
            if cid == b"data":
                if length in (0, 0xFFFFFFFF):  # streamed WAV: length unknown by design
                    return 0
                return max(0, f.tell() + length - size)
            f.seek(length + (length & 1), 1)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '")[0]


def resample(audio: Audio, sample_rate: int) -> Audio:
    """Band-limited resampling through libswresample (the same code ffmpeg uses)."""
    if audio.sample_rate == sample_rate:
        return audio
    import av

    frame = av.AudioFrame.from_ndarray(audio.samples[None, :], format="flt", layout="mono")
    frame.sample_rate = audio.sample_rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    samples = np.concatenate(out) if out else np.zeros(0, np.float32)
    return Audio(samples, sample_rate, audio.source)


def require_sound(audio: Audio, *, min_seconds: float = 0.1) -> None:
    """Refuse input that cannot hold speech, naming its file, before a model hallucinates on it."""
    where = audio.source or "audio"
    if audio.duration < min_seconds:
        raise UserInputError(f"audio is too short ({audio.duration:.2f} s)", path=where)
    peak = float(np.max(np.abs(audio.samples))) if len(audio.samples) else 0.0
    if peak < SILENCE_PEAK:
        level = 20 * np.log10(peak) if peak > 0 else float("-inf")
        raise UserInputError(f"audio is silent (peak {level:.0f} dBFS)", path=where)


def save_audio(path: str | os.PathLike, audio: Audio) -> Path:
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.clip(audio.samples, -1.0, 1.0), audio.sample_rate, subtype="PCM_16")
    return path


def as_audio(source, sample_rate: int = ASR_SAMPLE_RATE) -> Audio:
    """Accept a path or an Audio; return mono Audio at `sample_rate`."""
    if isinstance(source, Audio):
        return resample(source, sample_rate)
    return load_audio(source, sample_rate)


def stream_audio(path: str | os.PathLike, sample_rate: int = ASR_SAMPLE_RATE, block_seconds: float = 10.0):
    """Decode a file block by block (mono float32 at `sample_rate`), so hours of audio never sit in memory.

    Yields arrays of about `block_seconds`; raises UserInputError naming the file like `load_audio`.
    """
    import av

    path = _existing_file(path)
    missing = _wav_missing_bytes(path)
    if missing:
        raise UserInputError(f"WAV file is truncated: {missing} bytes of audio data are missing", path=path)
    container = _open_container(path)
    block = int(block_seconds * sample_rate)
    with container:
        if not container.streams.audio:
            raise UserInputError("has no audio track (is it an audio or video file?)", path=path)
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        pending: list[np.ndarray] = []
        have = done = 0

        def frames():
            for frame in container.decode(stream):
                yield from resampler.resample(frame)
            yield from resampler.resample(None)

        try:
            for f in frames():
                pending.append(f.to_ndarray().reshape(-1))
                have += len(pending[-1])
                if have >= block:
                    out = np.concatenate(pending)
                    pending, have = [], 0
                    done += len(out)
                    yield out
        except av.FFmpegError as exc:
            raise UserInputError(
                f"audio is corrupt or truncated: decoding failed after {done / sample_rate:.1f} s ({_reason(exc)})",
                path=path) from None
        if pending:
            done += have
            yield np.concatenate(pending)
    if done == 0:
        raise UserInputError("contains no audio samples (empty or truncated)", path=path)


def audio_duration(path: str | os.PathLike) -> float | None:
    """The duration a file's header declares (None if unknown), without decoding it."""
    import av

    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                return None
            return _declared_duration(container, container.streams.audio[0])
    except (av.FFmpegError, UnicodeDecodeError, OSError):
        return None
