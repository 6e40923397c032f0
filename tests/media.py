"""Write real media files with PyAV (its bundled ffmpeg) so decoding is tested on true encodings."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CODECS = {".mp3": ("mp3", "libmp3lame"), ".m4a": ("mp4", "aac"), ".ogg": ("ogg", "libopus"),
          ".flac": ("flac", "flac"), ".wav": ("wav", "pcm_s16le"), ".mp4": ("mp4", "aac")}


def encode_audio(samples: np.ndarray, sr: int, path: Path, *, with_video: bool = False) -> Path:
    fmt, codec = CODECS[path.suffix]
    rate = 48000 if codec == "libopus" else sr
    if rate != sr:
        from pipelines.audio import resample
        from pipelines.types import Audio
        samples = resample(Audio(samples, sr), rate).samples
    with av.open(str(path), "w", format=fmt) as out:
        if with_video:
            video = out.add_stream("libx264", rate=25)
            video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        stream = out.add_stream(codec, rate=rate)
        stream.layout = "mono"
        frame_size = stream.codec_context.frame_size or 1024
        fmt_name = "s16" if codec in ("pcm_s16le", "flac") else stream.codec_context.format.name
        if fmt_name.startswith("s16"):
            pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        elif fmt_name.startswith("s32"):
            pcm = (np.clip(samples, -1, 1) * 2147483647).astype(np.int32)
        else:
            pcm = samples.astype(np.float32)
        for i in range(0, len(pcm), frame_size):
            chunk = pcm[i:i + frame_size]
            frame = av.AudioFrame.from_ndarray(chunk[None, :], format=fmt_name, layout="mono")
            frame.sample_rate = rate
            frame.pts = i
            frame.time_base = Fraction(1, rate)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        if with_video:
            for n in range(int(len(samples) / sr * 25)):
                img = av.VideoFrame.from_ndarray(np.full((64, 64, 3), n % 255, np.uint8), format="rgb24")
                for packet in video.encode(img):
                    out.mux(packet)
            for packet in video.encode(None):
                out.mux(packet)
    return path


def encode_silent_video(path: Path, seconds: float = 1.0) -> Path:
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = 64, 64, "yuv420p"
        for n in range(int(seconds * 25)):
            for packet in video.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
    return path


def assemble_talk(data: Path, out: Path, gap: float = 0.7) -> Path:
    """A > 3-minute 16 kHz WAV of real speech: the clips of `data` (AMI meeting, JFK, LibriSpeech,
    LJ Speech, VCTK...) one after another with short pauses, for long-audio tests and benchmarks."""
    from pipelines.audio import load_audio

    order = [data / "podcast/dev00.wav", data / "asr/en/jfk.flac"]
    order += sorted((data / "asr/en").glob("*.wav"))
    order += sorted((data / "voice/ljspeech/wavs").glob("*.wav"))
    order += sorted((data / "voice/contrast").glob("*.wav"))
    pause = np.zeros(int(gap * 16000), np.float32)
    parts = []
    for path in order:
        parts += [load_audio(path, 16000).samples, pause]
    import soundfile as sf

    sf.write(str(out), np.concatenate(parts), 16000, subtype="PCM_16")
    return out


def synthetic_music(seconds: float = 20.0, sr: int = 22050, seed: int = 1) -> np.ndarray:
    """Instrumental music without a voice: plucked harmonic notes on a beat, drum hits and a bass line."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    out = 0.15 * np.sin(2 * np.pi * 65.4 * t)
    beat = int(0.5 * sr)
    for start in range(0, len(t) - beat + 1, beat):
        f = rng.choice([261.6, 329.6, 392.0, 523.3, 440.0, 349.2])
        tt = t[:beat]
        out[start:start + beat] += 0.2 * sum(np.sin(2 * np.pi * f * h * tt) / h for h in range(1, 6)) * np.exp(-3 * tt)
        out[start:start + beat] += 0.1 * rng.standard_normal(beat) * np.exp(-40 * tt)
    return (0.6 * out).astype(np.float32)
