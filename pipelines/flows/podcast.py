"""The podcast summarizer: hours of audio -> transcript with speakers -> chaptered summary with verbatim,
timed quotes -> Markdown, JSON, subtitles, chapters, a chaptered M4A, and optionally the summary read back
in a voice (and as a talking-head video).

    flow = PodcastFlow(asr, llm, tts=tts)            # any objects with the stage Protocols' methods
    result = flow.run("talk.mp3", "out/", resume=True, progress=ProgressLine("talk.mp3"))

Listening, speakers and summarizing live in podcast_listen / podcast_speakers / podcast_summary. Every
expensive piece is cached in a `Job` work folder beside the outputs, so a killed run resumes where it
stopped. Outputs are written to a staging folder inside the job and moved into place only when all of them
are complete: a failed run leaves no file that looks finished.
"""
from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..audio import ASR_SAMPLE_RATE
from ..errors import StageError, UserInputError
from ..formats import chapters_vtt, to_srt, to_vtt
from ..jobs import Job, atomic_write, scaled
from ..stages import ASR, LLM, TTS, LipSync, Progress, no_progress
from ..types import Segment, Transcript
from .podcast_listen import Embedder, Listening, VoiceActivity, listen
from .podcast_speakers import Turn, assign_speakers
from .podcast_summary import Summary, clock, summarize

MIN_SECONDS = 10.0     # shorter input has nothing to summarize
# What the LLM reads of a longer transcript (about 20 min of talk); see podcast_skim. The 1.5B on 2 cores reads
# it in ~2 min, where all of an hour (21,753 tokens) takes 7.2 min before it writes a word. None: read it all.
SKIM_TOKENS = 6000


def default_embedder() -> Embedder:
    from voices.similarity import partial_embeddings

    return partial_embeddings


def output_names(stem: str, *, voice: bool = False, video: bool = False, m4a: bool = True) -> dict[str, str]:
    names = {"markdown": f"{stem}.summary.md", "json": f"{stem}.summary.json", "srt": f"{stem}.srt",
             "vtt": f"{stem}.vtt", "chapters": f"{stem}.chapters.vtt"}
    if m4a:
        names["m4a"] = f"{stem}.chapters.m4a"
    if voice:
        names["speech"] = f"{stem}.summary.wav"
    if video:
        names["video"] = f"{stem}.summary.mp4"
    return names


@dataclass
class PodcastResult:
    source: str
    outputs: dict[str, Path]
    summary: Summary
    turns: list[Turn]
    language: str
    duration: float
    speakers: list[str]
    seconds: dict = field(default_factory=dict)   # asr, speakers, summary, outputs: wall time this run
    windows: int = 0
    transcribed: int = 0


class PodcastFlow:
    def __init__(self, asr: ASR, llm: LLM, *, tts: TTS | None = None, lipsync: LipSync | None = None,
                 portrait: str | Path | None = None, embedder: Embedder | None | Callable = "default",
                 context: int | None = None, m4a: bool = True,
                 voice_activity: VoiceActivity | None = None, read_tokens: int | None = SKIM_TOKENS):
        self.asr, self.llm, self.tts, self.lipsync, self.portrait = asr, llm, tts, lipsync, portrait
        self.embedder = default_embedder() if embedder == "default" else embedder
        self.voice_activity = voice_activity  # apps pass Silero: it tells music from speech
        self.read_tokens = read_tokens
        self.context = context
        self.m4a = m4a

    def outputs(self, path: str | Path, out_dir: str | Path) -> dict[str, Path]:
        names = output_names(Path(path).stem, voice=self.tts is not None,
                             video=self.lipsync is not None and self.portrait is not None, m4a=self.m4a)
        return {k: Path(out_dir) / v for k, v in names.items()}

    def work_dir(self, path: str | Path, out_dir: str | Path) -> Path:
        return Path(out_dir) / f".{Path(path).stem}.podcast-work"

    def run(self, path: str | Path, out_dir: str | Path, *, language: str | None = None, resume: bool = False,
            overwrite: bool = False, keep_work: bool = False, progress: Progress = no_progress) -> PodcastResult:
        path = Path(path)
        targets = self.outputs(path, out_dir)
        if not overwrite:
            for target in targets.values():
                if target.exists():
                    raise UserInputError("already exists; pass --overwrite to replace it", path=target)
        if self.lipsync is not None and self.portrait is not None:
            from avatar.face import load_portrait

            load_portrait(self.portrait)  # a bad portrait fails before an hour of listening
        from ..audio import audio_duration

        declared = audio_duration(path) if path.is_file() else None
        if declared is not None and declared < MIN_SECONDS:
            raise UserInputError(f"too short to summarize ({declared:.1f} s; at least {MIN_SECONDS:.0f} s are "
                                 f"needed)", path=path)
        folder = self.work_dir(path, out_dir)
        if folder.exists() and not resume:
            shutil.rmtree(folder)  # only our own work folder: a fresh run starts from nothing
        job = Job(folder)
        job.save(source=str(path), status="running")
        seconds: dict[str, float] = {}

        heard = listen(path, self.asr, job, language=language, embedder=self.embedder,
                       voice_activity=self.voice_activity, progress=scaled(progress, 0.0, 0.6))
        seconds.update(heard.seconds)
        if heard.duration < MIN_SECONDS:
            raise UserInputError(f"too short to summarize ({heard.duration:.1f} s; at least {MIN_SECONDS:.0f} s "
                                 f"of speech is needed)", path=path)
        t = time.perf_counter()
        joiner = "" if heard.language in ("zh", "ja", "yue") else " "
        turns = assign_speakers(heard.segments, heard.voice_spans, heard.voices, joiner)
        seconds["speakers"] = seconds.get("speakers", 0.0) + time.perf_counter() - t
        speakers = list(dict.fromkeys(t.speaker for t in turns))
        job.save(status="listened", segments=len(turns), speakers=speakers, language=heard.language)
        progress(0.62, f"{len(turns)} lines, {len(speakers)} speaker(s)")

        t = time.perf_counter()
        summary = summarize(turns, self.llm, job, context=self.context, read_tokens=self.read_tokens,
                            progress=scaled(progress, 0.62, 0.85), source=str(path))
        seconds["summary"] = time.perf_counter() - t
        job.save(status="summarized")

        t = time.perf_counter()
        staging = folder / "staging"
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir()
        staged = {k: staging / p.name for k, p in targets.items()}
        self._write_texts(staged, path, heard, turns, summary, speakers)
        if "m4a" in staged:
            progress(0.87, "writing the chaptered M4A")
            write_chaptered_original(path, staged["m4a"], summary, heard.duration, folder)
        if "speech" in staged:
            progress(0.92, "reading the summary aloud")
            speech = self._speak(summary)
            from ..audio import save_audio

            save_audio(staged["speech"], speech.audio)
            if "video" in staged:
                progress(0.95, "rendering the talking head")
                try:
                    self.lipsync.render(self.portrait, speech, staged["video"])
                except (UserInputError, StageError):
                    raise
                except Exception as exc:
                    raise StageError("lipsync", type(self.lipsync).__name__, exc) from exc
        for key, source in staged.items():  # every output is complete: move them into place
            targets[key].parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(source), targets[key])
        seconds["outputs"] = time.perf_counter() - t
        job.save(status="done")
        if not keep_work:
            shutil.rmtree(folder, ignore_errors=True)
        progress(1.0, f"summary: {targets['markdown']}")
        return PodcastResult(str(path), targets, summary, turns, heard.language, heard.duration, speakers,
                             seconds, heard.windows, heard.transcribed)

    def _speak(self, summary: Summary):
        text = spoken_text(summary)
        try:
            return self.tts.synthesize(text)
        except (UserInputError, StageError):
            raise
        except Exception as exc:
            raise StageError("tts", type(self.tts).__name__, exc) from exc

    def _write_texts(self, staged: dict[str, Path], path: Path, heard: Listening, turns: list[Turn],
                     summary: Summary, speakers: list[str]) -> None:
        segments = tuple(Segment(t.start, t.end, t.text, t.words) for t in turns)
        transcript = Transcript("\n".join(t.text for t in turns), heard.language, segments, heard.duration)
        labels = [t.speaker for t in turns]
        atomic_write(staged["srt"], to_srt(transcript, labels))
        atomic_write(staged["vtt"], to_vtt(transcript, labels))
        atomic_write(staged["chapters"], chapters_vtt(chapter_spans(summary, heard.duration)))
        data = {"source": str(path), "duration": heard.duration, "language": heard.language,
                "speakers": speakers, **summary.to_dict(),
                "transcript": [{"id": t.id, "start": t.start, "end": t.end, "speaker": t.speaker, "text": t.text}
                               for t in turns]}
        atomic_write(staged["json"], json.dumps(data, ensure_ascii=False, indent=1))
        atomic_write(staged["markdown"], to_markdown(summary, path, heard.duration, speakers))


def chapter_spans(summary: Summary, duration: float) -> list[tuple[float, float, str]]:
    """(start, end, title) per chapter; each runs to the next one's start, the last to the end."""
    starts = [c["start"] for c in summary.chapters]
    ends = starts[1:] + [duration]
    return [(a, max(b, a), c["title"]) for a, b, c in zip(starts, ends, summary.chapters)]


def spoken_text(summary: Summary) -> str:
    parts = [summary.title.rstrip(".") + ".", summary.abstract]
    for n, chapter in enumerate(summary.chapters, 1):
        parts.append(f"Chapter {n}: {chapter['title'].rstrip('.')}.")
        parts.extend(p if p.endswith((".", "!", "?")) else p + "." for p in chapter["points"][:2])
    return "\n\n".join(p for p in parts if p.strip())


def to_markdown(summary: Summary, path: Path, duration: float, speakers: list[str]) -> str:
    lines = [f"# {summary.title}", "",
             f"*{path.name} · {clock(duration)} · speakers: {', '.join(speakers)}*", "", summary.abstract, ""]
    if summary.lines_read < summary.lines_total:
        lines += [f"*Summarized from {summary.lines_read} of {summary.lines_total} transcript lines (the central "
                  f"lines of every few minutes); times and quotes are checked against all of them.*", ""]
    lines += ["## Chapters", ""]
    for c in summary.chapters:
        lines.append(f"- **[{clock(c['start'])}] {c['title']}**")
        lines.extend(f"  - {p}" for p in c["points"])
    if summary.key_points:
        lines += ["", "## Key points", ""] + [f"- {p}" for p in summary.key_points]
    if summary.quotes:
        lines += ["", "## Quotes", ""]
        for q in summary.quotes:
            lines += [f"> “{q['text']}”", f"> — {q['speaker']} at [{clock(q['start'])}]", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_chaptered_original(path: Path, out: Path, summary: Summary, duration: float, work: Path) -> None:
    """The original audio as AAC in an M4A with the summary's chapter markers. Streamed: each chapter's
    audio goes through a temporary WAV in the work folder, so memory stays flat for hours."""
    import soundfile as sf

    from ..audio import stream_audio
    from ..m4a import write_chaptered_audio

    spans = chapter_spans(summary, duration)
    if spans and spans[0][0] > 0:
        spans[0] = (0.0, spans[0][1], spans[0][2])  # the first chapter also holds any intro before it
    rate = 44100 if _rate_of(path) >= 44100 else ASR_SAMPLE_RATE
    parts_dir = work / "m4a-parts"
    parts_dir.mkdir(exist_ok=True)
    files = [parts_dir / f"{i:03d}.wav" for i in range(len(spans))]
    bounds = [int(round(a * rate)) for a, _, _ in spans[1:]]
    index, position = 0, 0
    writer = sf.SoundFile(str(files[0]), "w", rate, 1, "FLOAT")
    try:
        for block in stream_audio(path, rate):
            while len(block):
                limit = bounds[index] - position if index < len(bounds) else len(block)
                take = block[:max(limit, 0)]
                writer.write(take)
                position += len(take)
                block = block[len(take):]
                if len(block) and index < len(bounds):
                    writer.close()
                    index += 1
                    writer = sf.SoundFile(str(files[index]), "w", rate, 1, "FLOAT")
    finally:
        writer.close()
    for extra in files[index + 1:]:  # chapters past the decoded end (cannot happen with ids from the audio)
        sf.write(str(extra), [0.0] * int(0.1 * rate), rate)
    write_chaptered_audio(out, files, [t for _, _, t in spans],
                          metadata={"title": summary.title, "comment": summary.abstract})
    shutil.rmtree(parts_dir, ignore_errors=True)


def _rate_of(path: Path) -> int:
    import av

    with av.open(str(path), metadata_errors="ignore") as container:
        return int(container.streams.audio[0].rate or ASR_SAMPLE_RATE)
