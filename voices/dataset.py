"""Turn a person's recordings into a clean fine-tuning set: 1-10 s clips, trimmed, loudness-normalised,
labelled by the ASR stage in a TSV the user can correct. Clips that would hurt training are kept out,
each with the reason (too short, clipped, silent, more than one speaker, not the same speaker)."""
from __future__ import annotations

import csv
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

from pipelines.audio import load_audio, save_audio
from pipelines.errors import UserInputError
from pipelines.stages import ASR, Progress, no_progress
from pipelines.types import Audio

SAMPLE_RATE = 22050
AUDIO_SUFFIXES = {".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus", ".aac", ".mp4", ".mkv", ".mov", ".webm"}
MIN_SECONDS, MAX_SECONDS = 1.0, 10.0
FIELDS = ("file", "text", "duration", "status", "reason", "source")


@dataclass
class Clip:
    file: str
    text: str = ""
    duration: float = 0.0
    status: str = "ok"     # ok | rejected
    reason: str = ""
    source: str = ""


def _frames_db(x: np.ndarray, sr: int, hop_s: float = 0.02) -> np.ndarray:
    hop = int(sr * hop_s)
    if len(x) < hop:  # a clip shorter than one frame (10 ms) is one quiet-padded frame, not a crash
        x = np.pad(x, (0, hop - len(x)))
    n = len(x) // hop
    rms = np.sqrt(np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1) + 1e-12)
    return 20 * np.log10(rms)


def speech_mask(audio: Audio, floor_db: float = -40.0) -> np.ndarray:
    """20 ms frames louder than `floor_db` below the loud part of the recording."""
    db = _frames_db(audio.samples, audio.sample_rate)
    return db > np.percentile(db, 95) + floor_db


def trim(audio: Audio, pad: float = 0.1) -> Audio:
    mask = speech_mask(audio)
    if not mask.any():
        return audio
    idx = np.flatnonzero(mask)
    start, end = max(idx[0] * 0.02 - pad, 0), min((idx[-1] + 1) * 0.02 + pad, audio.duration)
    return audio.slice(start, end)


def slice_at_silences(audio: Audio, min_s: float = MIN_SECONDS, max_s: float = MAX_SECONDS) -> list[Audio]:
    """Cut a long recording at pauses into pieces of at most `max_s`, never inside speech if avoidable."""
    mask = speech_mask(audio)
    hop = 0.02
    pieces, start = [], None
    quiet_run = 0
    cut_candidates: list[int] = []
    for i, loud in enumerate(mask):
        if loud and start is None:
            start = i
        quiet_run = 0 if loud else quiet_run + 1
        if start is None:
            continue
        if quiet_run == 8:  # 160 ms of quiet: a place to cut
            cut_candidates.append(i - 4)
        if (i - start) * hop >= max_s or (quiet_run >= 25 and (i - start) * hop >= min_s):
            usable = [c for c in cut_candidates if c > start and (c - start) * hop >= min_s]
            cut = usable[-1] if usable and quiet_run < 25 else i - quiet_run // 2
            pieces.append((start, cut))
            start = None if quiet_run >= 25 else cut
            cut_candidates = []
    if start is not None:
        pieces.append((start, len(mask)))
    return [audio.slice(a * hop, b * hop) for a, b in pieces]


def check_clip(audio: Audio) -> str:
    """Why a clip should not be trained on, or '' when it is fine."""
    x = audio.samples
    if audio.duration < MIN_SECONDS:
        return f"too short ({audio.duration:.{1 if audio.duration >= 0.1 else 2}f} s; at least {MIN_SECONDS:.0f} s)"
    if audio.duration > MAX_SECONDS + 0.5:
        return f"too long ({audio.duration:.1f} s; at most {MAX_SECONDS:.0f} s)"
    peak = float(np.max(np.abs(x)))
    if peak < 10 ** (-40 / 20):
        return "silent"
    if np.mean(np.abs(x) >= 0.99) > 0.001:
        return "clipped (distorted: the recording level was too high)"
    if speech_mask(audio, -30).mean() < 0.25:
        return "mostly silence or noise"
    return ""


def loudness_normalise(audio: Audio, target_db: float = -20.0) -> Audio:
    db = _frames_db(audio.samples, audio.sample_rate)
    speech = db[db > np.percentile(db, 95) - 30]
    level = 10 * np.log10(np.mean(10 ** (speech / 10))) if len(speech) else -60
    gain = 10 ** ((target_db - level) / 20)
    peak = float(np.max(np.abs(audio.samples))) * gain
    if peak > 0.95:
        gain *= 0.95 / peak
    return Audio(audio.samples * gain, audio.sample_rate, audio.source)


def _speaker_checks(clips: list[tuple[Clip, Audio]]) -> None:
    """Mark clips that mix speakers, or whose speaker differs from the rest of the set."""
    from .similarity import embed

    good = [(c, a) for c, a in clips if c.status == "ok"]
    embeddings = {}
    for clip, audio in good:
        embeddings[clip.file] = embed(audio)
        if audio.duration >= 4.0:
            halves = [embed(audio.slice(0, audio.duration / 2)), embed(audio.slice(audio.duration / 2, audio.duration))]
            if float(np.dot(halves[0], halves[1])) < 0.6:
                clip.status, clip.reason = "rejected", "sounds like more than one speaker"
    kept = [e for c, _ in good if c.status == "ok" for e in [embeddings[c.file]]]
    if len(kept) >= 3:
        center = np.mean(kept, axis=0)
        center /= np.linalg.norm(center)
        for clip, _ in good:
            if clip.status == "ok" and float(np.dot(embeddings[clip.file], center)) < 0.7:
                clip.status, clip.reason = "rejected", "sounds like a different speaker than the other clips"


def read_labels(folder: Path) -> dict[str, str]:
    """Transcripts the user already has: LJSpeech-style metadata.csv (id|text|normalised) or a TSV."""
    labels = {}
    csv_path = folder / "metadata.csv"
    if csv_path.is_file():
        for line in csv_path.read_text(encoding="utf-8").splitlines():
            parts = line.split("|")
            if len(parts) >= 2:
                labels[parts[0]] = parts[-1].strip()
    tsv_path = folder / "metadata.tsv"
    if tsv_path.is_file():
        for row in read_metadata(tsv_path):
            labels[Path(row.file).stem] = row.text
    return labels


def read_metadata(path: Path) -> list[Clip]:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    if rows and not {"file", "text"} <= set(rows[0]):
        raise UserInputError("needs tab-separated columns file and text", path=path)
    return [Clip(r["file"], r.get("text", ""), float(r.get("duration") or 0), r.get("status") or "ok",
                 r.get("reason") or "", r.get("source") or "") for r in rows]


def write_metadata(path: Path, clips: Iterable[Clip]) -> None:
    tmp = path.with_suffix(".tsv.partial")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, FIELDS, delimiter="\t")
        writer.writeheader()
        for clip in clips:
            row = asdict(clip)
            row["duration"] = f"{clip.duration:.2f}"
            writer.writerow(row)
    os.replace(tmp, path)


def _inputs(source: Path) -> list[Path]:
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        if not files:
            raise UserInputError("holds no audio files (wav, flac, mp3, m4a, ogg, mp4…)", path=source)
        return files
    if source.is_file():
        return [source]
    raise UserInputError("not found", path=source)


def prepare_dataset(source: str | os.PathLike, out_dir: str | os.PathLike, asr: ASR | None = None, *,
                    language: str | None = None, progress: Progress = no_progress) -> list[Clip]:
    """Build `out_dir/wavs/*.wav` and `out_dir/metadata.tsv` from a folder of clips or one long recording.
    An existing metadata.tsv (possibly corrected by the user) is never overwritten: delete it to redo."""
    source, out = Path(source), Path(out_dir)
    meta = out / "metadata.tsv"
    if meta.is_file():
        return read_metadata(meta)
    files = _inputs(source)
    labels = read_labels(source) if source.is_dir() else {}
    (out / "wavs").mkdir(parents=True, exist_ok=True)
    pieces: list[tuple[Clip, Audio]] = []
    for n, path in enumerate(files):
        try:
            audio = load_audio(path, SAMPLE_RATE)
        except UserInputError as exc:
            pieces.append((Clip(path.name, status="rejected", reason=exc.message, source=str(path)), None))
            continue
        parts = [audio] if audio.duration <= MAX_SECONDS + 0.5 and len(files) > 1 else slice_at_silences(audio)
        for k, part in enumerate(parts):
            part = trim(part)
            name = f"{len(pieces) + 1:04d}.wav"
            reason = check_clip(part)
            clip = Clip(name, "", round(part.duration, 2), "rejected" if reason else "ok", reason, str(path))
            if len(parts) == 1 and path.stem in labels:
                clip.text = labels[path.stem]
            if not reason:
                part = loudness_normalise(part)
            save_audio(out / "wavs" / name, part)
            pieces.append((clip, part))
        progress(0.4 * (n + 1) / len(files), f"sliced and checked {n + 1} of {len(files)} recordings")
    _speaker_checks([(c, a) for c, a in pieces if a is not None])
    todo = [(c, a) for c, a in pieces if c.status == "ok" and not c.text]
    for i, (clip, audio) in enumerate(todo):
        if asr is None:
            raise UserInputError("clips have no transcripts and no ASR stage was given", path=source)
        clip.text = asr.transcribe(audio, language=language).text
        if not clip.text.strip():
            clip.status, clip.reason = "rejected", "no words recognised"
        progress(0.4 + 0.6 * (i + 1) / len(todo), f"labelled {i + 1} of {len(todo)} clips")
    clips = [c for c, _ in pieces]
    write_metadata(meta, clips)
    progress(1.0, f"{sum(c.status == 'ok' for c in clips)} clips ready, {sum(c.status != 'ok' for c in clips)} rejected")
    return clips
