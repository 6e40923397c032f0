"""The audiobook flow: a `Book` -> one audio file and one SRT per chapter, and a chapter-marked M4B.

Never loses work: every sentence's audio is a piece of a `Job`, stored under a hash of (its text after the
lexicon, the voice, the engine settings) the moment it is made. A run killed at any point (kill -9 included)
continues where it stopped; since a sentence's audio depends only on its key and chapters are assembled from
the pieces in order, the resumed book is the same, sample for sample, as an uninterrupted one (for engines
that are deterministic per call: both VITS engines are, from their seed). Editing one sentence or one lexicon
entry changes only the keys of the sentences it touches, so only those are rendered again.

Memory stays flat: a chapter is streamed from its pieces into a WAV in the job folder when its last sentence
is done, and the M4B is encoded from those WAVs one block at a time.

Self-check (optional): the ASR stage transcribes what was said, a group of sentences at a time; a group
that does not match its text is checked sentence by sentence, a wrong sentence is rendered again with the
alternative settings (another seed, slower) and, if still wrong, listed in the report.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..books import Book, Section
from ..errors import StageError, UserInputError
from ..jobs import Job, atomic_write, content_key
from ..stages import ASR, TTS, Progress, no_progress
from ..text import char_error_rate, has_cjk, word_error_rate
from ..types import Audio, Timing

FORMATS = ("m4b", "mp3", "wav")
JOB_DIR = ".audiobook-job"


# --- lexicon ---

def read_lexicon(path: str | Path) -> dict[str, str]:
    """`word = respelling` (or tab-separated) lines; '#' starts a comment. IPA is refused with a reason."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError("lexicon file not found", path=path)
    lexicon: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = re.split(r"\s*(?:=|\t|->)\s*", line, maxsplit=1)
        if len(parts) != 2 or not parts[0] or not parts[1]:
            raise UserInputError(f"line {number}: expected 'word = respelling', got {line!r}", path=path)
        word, say = parts
        if re.fullmatch(r"[/\[].*[/\]]", say):
            raise UserInputError(f"line {number}: {say} looks like IPA; this voice's front end takes respellings "
                                 f"only (e.g. 'Nguyen = win')", path=path)
        lexicon[word] = say
    return lexicon


def apply_lexicon(text: str, lexicon: dict[str, str]) -> str:
    """Whole-word, case-insensitive replacement (longest entries first, so phrases win over their words)."""
    for word in sorted(lexicon, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(word)}(?!\w)", lambda m, s=lexicon[word]: s, text, flags=re.IGNORECASE)
    return text


# --- plan ---

@dataclass(frozen=True)
class Sentence:
    chapter: int          # 1-based number among narrated chapters
    number: int           # 1-based within its chapter
    text: str             # as written in the book
    spoken: str           # after the lexicon: what the voice gets
    pause: float          # silence after it


@dataclass(frozen=True)
class ChapterPlan:
    number: int
    section: Section
    sentences: tuple[Sentence, ...]

    @property
    def title(self) -> str:
        return self.section.title


@dataclass
class Narrator:
    """The voice: a TTS stage, the settings that identify its output (part of every cache key), and
    alternative renderings (other seed / slower) tried on sentences the self-check finds wrong."""

    tts: TTS
    settings: dict
    language: str = "en"
    retries: Sequence[tuple[TTS, dict]] = ()


@dataclass(frozen=True)
class AudiobookOptions:
    chapters: Sequence[int] | None = None      # narrated chapter numbers (1-based); None: all
    only: tuple[int, int] | None = None        # (chapter, sentence): re-render that one, rebuild its chapter
    check: bool = False                        # self-check through the ASR stage
    format: str = "m4b"
    lexicon: dict = field(default_factory=dict)
    sentence_pause: float = 0.35
    paragraph_pause: float = 0.8
    chapter_lead: float = 0.5                  # silence at the start of a chapter file
    chapter_tail: float = 1.5                  # and at its end (the pause between chapters)
    max_wer: float = 0.34                      # a sentence above this is "wrong"
    bitrate: int = 64000


@dataclass
class AudiobookResult:
    out_dir: Path
    book_file: Path | None
    chapter_files: list[Path]
    srt_files: list[Path]
    report: Path
    sentences: int
    rendered: int                 # sentences synthesised in this run (the rest came from the cache)
    wrong: list[dict]             # sentences the self-check still finds wrong
    seconds: float
    audio_seconds: float
    chars: int


def plan_book(book: Book, options: AudiobookOptions) -> list[ChapterPlan]:
    chapters = book.chapters
    wanted = set(options.chapters) if options.chapters else set(range(1, len(chapters) + 1))
    bad = sorted(n for n in wanted if not 1 <= n <= len(chapters))
    if bad:
        raise UserInputError(f"chapter(s) {', '.join(map(str, bad))} do not exist: the book has {len(chapters)} "
                             f"chapters to narrate (see --check)", path=book.path)
    plans = []
    for number, section in enumerate(chapters, 1):
        if number not in wanted:
            continue
        sentences: list[Sentence] = []
        for paragraph in section.sentences():
            for k, text in enumerate(paragraph):
                pause = options.paragraph_pause if k == len(paragraph) - 1 else options.sentence_pause
                sentences.append(Sentence(number, len(sentences) + 1, text,
                                          apply_lexicon(text, options.lexicon), pause))
        plans.append(ChapterPlan(number, section, tuple(sentences)))
    if options.only:
        chapter, sentence = options.only
        plan = next((p for p in plans if p.number == chapter), None)
        if plan is None or not 1 <= sentence <= len(plan.sentences):
            have = f"{len(plan.sentences)} sentences" if plan else "no such chapter"
            raise UserInputError(f"--only {chapter}:{sentence}: chapter {chapter} has {have}", path=book.path)
    return plans


def check_language(book: Book, narrator: Narrator, plans: Sequence[ChapterPlan]) -> None:
    """Mandarin text needs a Mandarin voice: refuse rather than read Chinese with an English voice."""
    voice_lang = (narrator.language or "en").lower()[:2]
    for plan in plans:
        sample = " ".join(s.text for s in plan.sentences[:50])
        cjk = sum(1 for ch in sample if has_cjk(ch))
        letters = sum(ch.isalpha() for ch in sample)
        if letters and cjk / letters > 0.3 and voice_lang != "zh":
            raise UserInputError(
                f"chapter {plan.number} ({plan.title!r}) is Mandarin Chinese (book language: {book.language}), but "
                f"the voice '{narrator.settings.get('voice', '?')}' speaks {narrator.language}; no Mandarin voice "
                f"is installed yet, so this book cannot be narrated", path=book.path)


def estimate(plans: Sequence[ChapterPlan], chars_per_second: float = 300.0, speech_chars_per_second: float = 15.0):
    """(characters, spoken hours, hours to render) for `--check`."""
    chars = sum(len(s.text) for p in plans for s in p.sentences)
    return chars, chars / speech_chars_per_second / 3600, chars / chars_per_second / 3600


# --- pieces ---

def _key(sentence: Sentence, settings: dict) -> str:
    return content_key("sentence", sentence.spoken, settings)


def _store(job: Job, key: str, audio: np.ndarray, sample_rate: int, words, meta: dict) -> None:
    """Audio first, then its metadata: a piece counts as done only when the .json exists."""
    job.put_bytes(key, np.ascontiguousarray(audio, "<f4").tobytes(), ".f32")
    job.put_json(key, {"sample_rate": sample_rate, "samples": int(len(audio)),
                       "words": [[w.label, w.start, w.end] for w in words], **meta})


def _load_audio(job: Job, key: str) -> np.ndarray:
    return np.frombuffer(job.piece(key, ".f32").read_bytes(), "<f4")


def _done(job: Job, key: str) -> dict | None:
    meta = job.get_json(key)
    if meta is None or not job.has(key, ".f32"):
        return None
    if job.piece(key, ".f32").stat().st_size != 4 * meta.get("samples", -1):
        return None
    return meta


def _synthesize(tts: TTS, text: str, where: str):
    try:
        speech = tts.synthesize(text)
    except UserInputError as exc:
        if "nothing to say" in str(exc):   # a sentence of only symbols: a short silence keeps the numbering
            return np.zeros(0, np.float32), int(getattr(tts, "sample_rate", 22050)), ()
        raise UserInputError(f"{where}: {exc.message}") from exc
    return speech.audio.samples, speech.audio.sample_rate, speech.words


def _score(reference: str, heard: str, spoken: str | None = None, language: str = "en") -> float:
    """Word error rate, forgiving the ASR's spelling of numbers and symbols (characters decide then); with a
    lexicon respelling, matching either the book's words or the respelling is right."""
    if spoken and spoken != reference:
        return min(_score(reference, heard, None, language), _score(spoken, heard, None, language))
    if has_cjk(reference):
        return char_error_rate(reference, heard)
    wer = word_error_rate(reference, heard, language)
    if wer > 0 and re.search(r"\d|[$%&@]", reference):
        wer = min(wer, char_error_rate(reference, heard))
    return wer


# --- the flow ---

class AudiobookFlow:
    """Narrate a book into `out_dir`; resumable, cached per sentence. See the module docstring."""

    def __init__(self, book: Book, out_dir: str | Path, narrator: Narrator, *, asr: ASR | None = None,
                 options: AudiobookOptions | None = None, progress: Progress = no_progress,
                 cover: bytes | None = None):
        self.book, self.narrator, self.asr = book, narrator, asr
        self.options = options or AudiobookOptions()
        if self.options.format not in FORMATS:
            raise UserInputError(f"unknown format {self.options.format!r}; choose one of {', '.join(FORMATS)}")
        if self.options.check and asr is None:
            raise UserInputError("the self-check needs the ASR stage")
        self.out_dir = Path(out_dir)
        self.progress = progress
        self.cover = cover if cover is not None else book.cover
        self.plans = plan_book(book, self.options)
        check_language(book, narrator, self.plans)
        self.job = Job(self.out_dir / JOB_DIR)
        self.rendered = 0
        self._units, self._done_units = 1, 0

    # --- one sentence ---
    def sentence_meta(self, sentence: Sentence, force_take: bool = False) -> tuple[str, dict]:
        key = _key(sentence, self.narrator.settings)
        meta = _done(self.job, key)
        if meta is not None and not force_take:
            return key, meta
        take = (meta or {}).get("take", -1) + 1 if force_take else 0
        tts, variant = self._variant(take)
        where = f"chapter {sentence.chapter}, sentence {sentence.number}"
        audio, sr, words = _synthesize(tts, sentence.spoken, where)
        self.rendered += 1
        meta = {"take": take, "variant": variant, "text": sentence.text, "spoken": sentence.spoken}
        _store(self.job, key, audio, sr, words, meta)
        return key, self.job.get_json(key)

    def _variant(self, take: int) -> tuple[TTS, dict]:
        if take == 0 or not self.narrator.retries:
            return self.narrator.tts, {}
        return self.narrator.retries[(take - 1) % len(self.narrator.retries)]

    # --- self-check ---
    def _transcribe(self, samples: np.ndarray, sr: int):
        """(text, words with times) heard in `samples`; silence is heard as nothing."""
        try:
            transcript = self.asr.transcribe(Audio(samples, sr), language=self._language)
        except UserInputError:
            return "", ()
        except Exception as exc:
            raise StageError("asr", type(self.asr).__name__, exc) from exc
        return transcript.text, transcript.words

    @property
    def _language(self) -> str:
        return (self.narrator.language or "en")[:2]

    def _heard(self, samples: np.ndarray, sr: int) -> str:
        return self._transcribe(samples, sr)[0]

    def _check_chapter(self, plan: ChapterPlan, keys: list[str], metas: list[dict]) -> None:
        """Transcribe sentences in groups filling one Whisper window (< 28 s with the gaps): one ASR call per
        group is far cheaper than one per sentence, and a window costs the same full or not."""
        todo = [i for i, m in enumerate(metas) if "check" not in m]
        groups: list[list[int]] = []
        seconds = 0.0
        for i in todo:
            length = metas[i]["samples"] / metas[i]["sample_rate"] + 0.4
            if groups and groups[-1][-1] == i - 1 and seconds + length <= 28.0:
                groups[-1].append(i)
                seconds += length
            else:
                groups.append([i])
                seconds = length
        for group in groups:
            self._check_group(plan, keys, metas, group)
            self._tick(len(group), f"checking chapter {plan.number} sentence {group[-1] + 1}/{len(plan.sentences)}")
        self._tick(len(metas) - len(todo), f"checked chapter {plan.number}")   # checked in an earlier run

    def _tick(self, units: int, message: str) -> None:
        self._done_units += units
        self.progress(0.9 * min(self._done_units / self._units, 1.0), message)

    def _check_group(self, plan, keys, metas, group: list[int]) -> None:
        """The group's words are shared out to its sentences by their times, so a short wrong sentence is not
        hidden by long right ones; a sentence that looks wrong is transcribed alone before it is retried."""
        sr = metas[group[0]]["sample_rate"]
        gap = np.zeros(int(0.4 * sr), np.float32)
        pieces = [_load_audio(self.job, keys[i]) for i in group]
        samples = np.concatenate([np.concatenate([piece, gap]) for piece in pieces])
        text, words = self._transcribe(samples, sr)
        if not words:   # an engine without word times: judge the group as a whole
            score = _score(" ".join(plan.sentences[i].text for i in group), text,
                           " ".join(plan.sentences[i].spoken for i in group), self._language)
            if score <= self.options.max_wer / 2:
                for i in group:
                    self._set_check(keys[i], metas, i, score, None)
                return
            for i in group:
                self._check_one(plan, keys, metas, i)
            return
        start = 0.0
        for i, piece in zip(group, pieces):
            end = start + (len(piece) + len(gap)) / sr
            heard = " ".join(w.text.strip() for w in words if start <= (w.start + w.end) / 2 < end)
            sentence = plan.sentences[i]
            score = _score(sentence.text, heard, sentence.spoken, self._language)
            if score <= self.options.max_wer:
                self._set_check(keys[i], metas, i, score, heard)
            else:
                self._check_one(plan, keys, metas, i)
            start = end

    def _check_one(self, plan, keys, metas, i: int) -> None:
        sentence = plan.sentences[i]
        audio = _load_audio(self.job, keys[i])
        heard = self._heard(audio, metas[i]["sample_rate"])
        score = _score(sentence.text, heard, sentence.spoken, self._language)
        tries = 0
        while score > self.options.max_wer and tries < len(self.narrator.retries):
            tries += 1
            best = (score, heard, _load_audio(self.job, keys[i]), self.job.get_json(keys[i]))
            key, meta = self.sentence_meta(sentence, force_take=True)
            audio = _load_audio(self.job, key)
            heard = self._heard(audio, meta["sample_rate"])
            score = _score(sentence.text, heard, sentence.spoken, self._language)
            if score > best[0]:   # the retry was worse: keep the better take
                prev_audio, prev_meta = best[2], best[3]
                words = [Timing(*w) for w in prev_meta["words"]]
                keep = {k: v for k, v in prev_meta.items() if k not in ("sample_rate", "samples", "words")}
                keep["take"] = meta["take"]   # the next retry goes on from here
                _store(self.job, key, prev_audio, prev_meta["sample_rate"], words, keep)
                score, heard = best[0], best[1]
            metas[i] = self.job.get_json(keys[i])
        self._set_check(keys[i], metas, i, score, heard)

    def _set_check(self, key: str, metas: list[dict], i: int, score: float, heard: str | None) -> None:
        meta = self.job.get_json(key)
        meta["check"] = {"wer": round(float(score), 3), "heard": heard, "ok": score <= self.options.max_wer}
        self.job.put_json(key, meta)
        metas[i] = meta

    # --- chapters ---
    def _chapter_wav(self, plan: ChapterPlan, keys: list[str], metas: list[dict]) -> tuple[Path, float, list]:
        """Stream the chapter's pieces and pauses into a 16-bit WAV (cached under the pieces' identities)."""
        import soundfile as sf

        sr = metas[0]["sample_rate"] if metas else 22050
        opts = self.options
        ident = content_key("chapter", [(k, m.get("take"), m["samples"], s.pause)
                                        for k, m, s in zip(keys, metas, plan.sentences)],
                            opts.chapter_lead, opts.chapter_tail)
        path = self.job.piece(ident, ".wav")
        words: list[Timing] = []
        t = opts.chapter_lead
        for meta, sentence in zip(metas, plan.sentences):
            words += [Timing(label, round(t + a, 3), round(t + b, 3)) for label, a, b in meta["words"]]
            t += meta["samples"] / sr + sentence.pause
        if path.is_file():
            return path, sf.info(str(path)).duration, words
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part")
        with sf.SoundFile(str(tmp), "w", samplerate=sr, channels=1, subtype="PCM_16", format="WAV") as out:
            out.write(np.zeros(int(round(opts.chapter_lead * sr)), np.float32))
            for n, (key, sentence) in enumerate(zip(keys, plan.sentences)):
                samples = _load_audio(self.job, key)
                out.write(np.clip(samples, -1, 1))
                pause = sentence.pause if n < len(keys) - 1 else opts.chapter_tail
                out.write(np.zeros(int(round(pause * sr)), np.float32))
        tmp.replace(path)
        return path, sf.info(str(path)).duration, words

    def _chapter_outputs(self, plan: ChapterPlan, wav: Path, words: list[Timing]) -> tuple[Path, Path]:
        from ..formats import words_to_srt

        stem = f"{plan.number:02d} - {_safe(plan.title)}"
        chapters_dir = self.out_dir / "chapters"
        chapters_dir.mkdir(parents=True, exist_ok=True)
        fmt = self.options.format
        target = chapters_dir / f"{stem}.{ 'm4a' if fmt == 'm4b' else fmt}"
        stamp = chapters_dir / f".{stem}.source"
        if not (target.is_file() and stamp.is_file() and stamp.read_text() == wav.name):
            if fmt == "wav":
                _copy(wav, target)
            elif fmt == "m4b":
                from ..m4a import write_chaptered_audio

                write_chaptered_audio(target, [wav], [plan.title], metadata=self._tags(plan), cover=self.cover,
                                      bitrate=self.options.bitrate)
            else:
                _encode_mp3(wav, target, self._tags(plan))
            atomic_write(stamp, wav.name)
        srt = target.with_suffix(".srt")
        atomic_write(srt, words_to_srt(words))
        return target, srt

    def _tags(self, plan: ChapterPlan | None = None) -> dict:
        tags = {"title": self.book.title, "album": self.book.title, "artist": self.book.author,
                "album_artist": self.book.author, "genre": "Audiobook", "language": self.book.language,
                "comment": f"narrated by digital-human, voice {self.narrator.settings.get('voice', '')}"}
        if plan is not None:
            tags["title"], tags["track"] = plan.title, str(plan.number)
        return tags

    # --- run ---
    def run(self) -> AudiobookResult:
        started = time.monotonic()
        opts = self.options
        for leftover in [*self.out_dir.glob(".*.part"), *(self.out_dir / "chapters").glob(".*.part")]:
            leftover.unlink(missing_ok=True)   # temp files of a killed run (ours: written beside, then renamed)
        plans = [p for p in self.plans if not opts.only or p.number == opts.only[0]]
        all_plans = self.plans
        self._units = sum(len(p.sentences) for p in plans) * (2 if opts.check else 1) or 1
        self._done_units = 0
        self.job.save(book=str(self.book.path), title=self.book.title, format=opts.format,
                      chapters=[p.number for p in all_plans], status="running")
        chapter_rows = []
        for plan in plans:
            keys, metas = [], []
            for sentence in plan.sentences:
                force = bool(opts.only) and sentence.number == opts.only[1]
                key, meta = self.sentence_meta(sentence, force_take=force)
                keys.append(key)
                metas.append(meta)
                self._tick(1, f"chapter {plan.number} sentence {sentence.number}/{len(plan.sentences)}")
            if opts.check:
                self._check_chapter(plan, keys, metas)
            wav, duration, words = self._chapter_wav(plan, keys, metas)
            target, srt = self._chapter_outputs(plan, wav, words)
            self.job.save(**{f"chapter_{plan.number}": {"wav": wav.name, "file": target.name}})
            chapter_rows.append((plan, wav, duration, target, srt, keys, metas))
        if opts.only:   # the other chapters come from their cached WAVs (rebuilt from pieces if needed)
            rows = {row[0].number: row for row in chapter_rows}
            chapter_rows = []
            for plan in all_plans:
                if plan.number in rows:
                    chapter_rows.append(rows[plan.number])
                    continue
                keys, metas = [], []
                for sentence in plan.sentences:
                    key, meta = self.sentence_meta(sentence)
                    keys.append(key)
                    metas.append(meta)
                wav, duration, words = self._chapter_wav(plan, keys, metas)
                target, srt = self._chapter_outputs(plan, wav, words)
                chapter_rows.append((plan, wav, duration, target, srt, keys, metas))
        book_file = None
        if opts.format == "m4b":
            from ..jobs import scaled
            from ..m4a import write_chaptered_audio

            book_file = self.out_dir / f"{_safe(self.book.title)}.m4b"
            stamp = content_key([(row[1].name, row[0].title) for row in chapter_rows], self._tags(),
                                self.cover or b"", opts.bitrate)
            if not (book_file.is_file() and self.job.state.get("m4b") == stamp):   # unchanged: not again
                write_chaptered_audio(book_file, [row[1] for row in chapter_rows],
                                      [row[0].title for row in chapter_rows], metadata=self._tags(),
                                      cover=self.cover, bitrate=opts.bitrate, progress=scaled(self.progress, 0.9, 1.0))
                self.job.save(m4b=stamp)
        wrong = [{"chapter": p.number, "sentence": s.number, "text": s.text, "heard": m["check"]["heard"],
                  "wer": m["check"]["wer"]}
                 for p, *_rest, metas in chapter_rows for s, m in zip(p.sentences, metas)
                 if m.get("check") and not m["check"]["ok"]]
        audio_seconds = sum(row[2] for row in chapter_rows)
        chars = sum(len(s.text) for p in plans for s in p.sentences)
        if opts.chapters is None and not opts.only:   # the whole book: audio of edited-away text can go
            keys = {k for row in chapter_rows for k in row[5]}
            self.job.prune(keys, ".f32")
            self.job.prune(keys, ".json")
            self.job.prune({row[1].name[:-len(".wav")] for row in chapter_rows}, ".wav")
        report = self._report(chapter_rows, wrong, book_file)
        self.job.save(status="done", wrong=len(wrong))
        self.progress(1.0, "done")
        return AudiobookResult(self.out_dir, book_file, [r[3] for r in chapter_rows], [r[4] for r in chapter_rows],
                               report, sum(len(r[0].sentences) for r in chapter_rows), self.rendered, wrong,
                               time.monotonic() - started, audio_seconds, chars)

    def _report(self, rows, wrong: list[dict], book_file: Path | None) -> Path:
        checked = [m for *_r, metas in rows for m in metas if m.get("check")]
        lines = [f"# {self.book.title}", "", f"Author: {self.book.author or 'unknown'}  ",
                 f"Voice: {self.narrator.settings.get('voice', '?')} ({self.narrator.settings.get('engine', '?')})  ",
                 f"Book file: {book_file.name if book_file else '(none: format ' + self.options.format + ')'}", "",
                 "| # | chapter | sentences | minutes | file |", "|---|---|---|---|---|"]
        for plan, _wav, duration, target, _srt, _k, _m in rows:
            lines.append(f"| {plan.number} | {plan.title} | {len(plan.sentences)} | {duration / 60:.1f} | "
                         f"{target.name} |")
        skipped = self.book.skipped
        if skipped:
            lines += ["", "Not narrated (pass --keep TITLE to include):", ""]
            lines += [f"- {s.title} ({s.skip}, {s.chars} characters)" for s in skipped]
        lines += ["", "## Self-check", ""]
        if not checked:
            lines.append("Not run (self-check turned off).")
        else:
            lines.append(f"{len(checked)} sentences transcribed back; {len(wrong)} still wrong after re-synthesis.")
            for w in wrong:
                lines.append(f"- {w['chapter']}:{w['sentence']} (WER {w['wer']:.0%}) said: {w['text']!r} "
                             f"heard: {w['heard']!r}; fix with --lexicon or re-render with --only "
                             f"\"{w['chapter']}:{w['sentence']}\"")
        path = self.out_dir / "report.md"
        atomic_write(path, "\n".join(lines) + "\n")
        atomic_write(self.out_dir / "report.json", json.dumps({"wrong": wrong, "checked": len(checked),
                                                                "chapters": [r[3].name for r in rows]},
                                                               ensure_ascii=False, indent=1))
        return path


def _safe(name: str) -> str:
    name = re.sub(r"[\\/:*?\"<>|\x00-\x1f]", " ", name)
    return " ".join(name.split())[:80].strip(" .") or "untitled"


def _copy(src: Path, dst: Path) -> None:
    import shutil

    tmp = dst.with_name(f".{dst.name}.part")
    shutil.copyfile(src, tmp)
    tmp.replace(dst)


def _encode_mp3(wav: Path, target: Path, tags: dict) -> None:
    import av
    import soundfile as sf

    tmp = target.with_name(f".{target.name}.part")
    with sf.SoundFile(str(wav)) as source, av.open(str(tmp), "w", format="mp3") as out:
        stream = out.add_stream("libmp3lame", rate=source.samplerate)
        stream.layout = "mono"
        stream.bit_rate = 64000
        for key, value in tags.items():
            if value:
                out.metadata[key] = str(value)
        pts = 0
        for block in source.blocks(blocksize=source.samplerate * 10, dtype="float32"):
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout="mono")
            frame.sample_rate, frame.pts = source.samplerate, pts
            pts += len(block)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    tmp.replace(target)


def parse_chapters(spec: str | None) -> list[int] | None:
    """'1-3,5' -> [1, 2, 3, 5]."""
    if not spec:
        return None
    out: list[int] = []
    for part in spec.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise UserInputError(f"--chapters {spec!r}: expected numbers and ranges like 1-3,5")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if b < a:
            raise UserInputError(f"--chapters {spec!r}: {a}-{b} runs backwards")
        out += range(a, b + 1)
    return sorted(set(out))


def parse_only(spec: str | None) -> tuple[int, int] | None:
    if not spec:
        return None
    m = re.fullmatch(r"\s*(\d+)\s*:\s*(\d+)\s*", spec)
    if not m:
        raise UserInputError(f"--only {spec!r}: expected CHAPTER:SENTENCE, e.g. 3:12")
    return int(m.group(1)), int(m.group(2))

