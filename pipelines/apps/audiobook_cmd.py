"""`dh audiobook BOOK --voice NAME --out DIR`: narrate an EPUB / txt / Markdown book into a chaptered M4B.

Exit status: 0 done and clean; 1 done but the self-check still finds sentences wrong (listed, and in
report.md); 2 bad input or a failure (one line on stderr).
"""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from .. import registry
from ..errors import UserInputError

# characters narrated per second on 2 quiet CPU cores (bench/audiobook.py), without / with the self-check,
# for the --check ETA
RENDER_CHARS_PER_SECOND = {"vits": (172.0, 91.0), "vits-onnx": (312.0, 125.0)}


def add_parser(sub) -> None:
    p = sub.add_parser("audiobook", help="narrate an EPUB / txt / Markdown book into a chapter-marked M4B")
    p.add_argument("book", help="the book: .epub, .txt or .md")
    p.add_argument("--voice", help="voice profile name (see: dh voices; default from config)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (rerun with the same folder to resume)")
    p.add_argument("--engine", choices=registry.names("tts"),
                   help="TTS engine (default from config, else vits-onnx)")
    p.add_argument("--speed", type=float, help="1.0 normal, 1.1 faster, 0.9 slower")
    p.add_argument("--chapters", metavar="RANGE", help="narrate only these chapters, e.g. 1-3,5")
    p.add_argument("--only", metavar="CHAPTER:SENTENCE", help="re-render one sentence (another take) and rebuild "
                   "its chapter and the book, e.g. 3:12")
    p.add_argument("--lexicon", metavar="FILE", help="pronunciations: one 'word = respelling' per line")
    p.add_argument("--keep", action="append", default=[], metavar="TITLE",
                   help="narrate a skipped section anyway (title, reason such as 'table of contents', or 'all')")
    p.add_argument("--check", action="store_true",
                   help="print the chapter map, characters, estimated duration and ETA; synthesise nothing")
    p.add_argument("--no-self-check", dest="self_check", action="store_false",
                   help="skip transcribing every sentence back with the ASR stage (faster)")
    p.add_argument("--format", choices=["m4b", "mp3", "wav"], default="m4b",
                   help="m4b: chapter .m4a files and one chaptered .m4b; mp3/wav: one file per chapter")
    p.add_argument("--overwrite", action="store_true", help="use an output folder that holds something else")
    p.set_defaults(func=cmd_audiobook)


def tts_options(config: dict, engine: str | None, voice: str | None, speed: float | None) -> tuple[str, dict]:
    """The engine and its options: the one named, else the configured one, else the default (`vits-onnx`:
    the ONNX path of the same weights, about twice as fast on CPU, which a long book needs)."""
    section = config.setdefault("tts", {})
    name = engine or section.get("engine") or registry.DEFAULTS["tts"]
    options = dict(section.get(name, {}) or {})
    if voice:
        options["voice"] = voice
    if speed:
        options["speed"] = speed
    return name, options


def build_narrator(config: dict, engine: str | None = None, voice: str | None = None, speed: float | None = None):
    """The TTS stage, the settings that identify its output, and two retry variants (other seed, slower)."""
    from ..flows.audiobook import Narrator

    name, options = tts_options(config, engine, voice, speed)
    tts = registry.build("tts", name, **options)
    settings = {"engine": name, **dataclasses.asdict(tts.config)}
    profile = getattr(tts, "profile", None)
    if profile is not None and "noise_scale" in settings and settings["noise_scale"] is None:
        # "the voice's own": record the value it speaks at, so old audio made at another one is not reused
        settings["noise_scale"] = profile.noise_scale
    if profile is not None:   # a retrained voice under the same name must not reuse old audio
        weights = profile.weights_path if profile.weights_path else profile.onnx_path
        if weights and Path(weights).is_file():
            stat = Path(weights).stat()
            settings["weights"] = [str(weights), stat.st_size, int(stat.st_mtime)]
    base_speed = float(getattr(tts.config, "speed", 1.0))
    base_seed = int(getattr(tts.config, "seed", 0))
    retries = []
    for step, slower in ((1, 0.92), (2, 0.85)):
        variant = dict(options, seed=base_seed + step, speed=round(base_speed * slower, 3))
        try:
            retry = registry.build("tts", name, **variant)
        except Exception:   # an engine without seed/speed options: no retries
            break
        retries.append((retry, {"seed": variant["seed"], "speed": variant["speed"]}))
    language = getattr(profile, "language", "en") if profile is not None else "en"
    return Narrator(tts, settings, language, retries)


def build_checker(config: dict):
    """The ASR stage for the self-check: greedy decoding (beam 1) where the engine has the option, since it
    only has to tell a right sentence from a wrong one, several times faster than beam search."""
    from ..config import stage_choice

    choice = stage_choice(config, "asr")
    options = dict(choice.options)
    fields = {f.name for f in dataclasses.fields(registry.engine_class("asr", choice.engine).Config)}
    if "beam_size" in fields:
        options["beam_size"] = 1
    return registry.build("asr", choice.engine, **options)


def _check_output_folder(out: Path, book: Path, overwrite: bool) -> None:
    from ..flows.audiobook import JOB_DIR
    from ..jobs import Job

    if not out.exists() or overwrite:
        return
    if not out.is_dir():
        raise UserInputError("is a file, not an output folder", path=out)
    job_dir = out / JOB_DIR
    if job_dir.is_dir():
        previous = Job(job_dir).state.get("book")
        if previous and Path(previous).name != book.name:
            raise UserInputError(f"holds the audiobook of {Path(previous).name}; use another folder or --overwrite",
                                 path=out)
        return
    if any(out.iterdir()):
        raise UserInputError("is not empty and holds no audiobook work; use an empty folder or --overwrite", path=out)


def print_chapter_map(book, plans, engine: str, self_check: bool) -> None:
    from ..books import chapter_map
    from ..flows.audiobook import estimate

    chosen = {p.number for p in plans}
    print(f"{book.title} — {book.author or 'unknown author'} [{book.language}, {book.kind}"
          f"{', ' + book.encoding if book.kind != 'epub' else ''}]")
    for row in chapter_map(book):
        if row["number"] is None:
            print(f"  --  {row['title'][:60]:60} {row['chars']:>8} chars  skipped: {row['skip']}")
        else:
            mark = " +" if row["number"] in chosen else "  "
            removed = f"  ({row['removed']} footnotes/page numbers left out)" if row["removed"] else ""
            print(f"{mark}{row['number']:>3} {row['title'][:60]:60} {row['chars']:>8} chars{removed}")
    rate = RENDER_CHARS_PER_SECOND.get(engine, (172.0, 91.0))[1 if self_check else 0]
    chars, spoken_h, _ = estimate(plans)
    print(f"{len(plans)} chapter(s) marked +, {sum(len(p.sentences) for p in plans)} sentences, {chars} characters: "
          f"about {_duration(spoken_h)} of audio; about {_duration(chars / rate / 3600)} to render on 2 CPU cores "
          f"({engine}{', with self-check' if self_check else ''})")


def _duration(hours: float) -> str:
    return f"{hours:.1f} h" if hours >= 1 else f"{max(hours * 60, 1):.0f} min"


def cmd_audiobook(args, config) -> int:
    from ..books import read_book
    from ..flows.audiobook import (AudiobookFlow, AudiobookOptions, check_language, parse_chapters, parse_only,
                                   plan_book, read_lexicon)
    from ..jobs import ProgressLine

    book_path = Path(args.book)
    book = read_book(book_path, keep=args.keep)
    options = AudiobookOptions(chapters=parse_chapters(args.chapters), only=parse_only(args.only),
                               check=args.self_check and not args.check, format=args.format,
                               lexicon=read_lexicon(args.lexicon) if args.lexicon else {})
    plans = plan_book(book, options)
    narrator = build_narrator(config, args.engine, args.voice, args.speed)
    check_language(book, narrator, plans)
    if args.check:
        print_chapter_map(book, plans, narrator.settings["engine"], args.self_check)
        return 0
    out = Path(args.out)
    _check_output_folder(out, book_path, args.overwrite)
    asr = build_checker(config) if options.check else None
    flow = AudiobookFlow(book, out, narrator, asr=asr, options=options, progress=ProgressLine(f"{book_path.name}"))
    result = flow.run()
    made = f"{result.book_file}" if result.book_file else f"{len(result.chapter_files)} chapter files in {out}"
    print(f"{made} [{len(result.chapter_files)} chapter(s), {result.audio_seconds / 3600:.2f} h of audio, "
          f"{result.sentences} sentences, {result.rendered} rendered now, {result.seconds:.0f} s]")
    print(f"report: {result.report}")
    if result.wrong:
        print(f"self-check: {len(result.wrong)} sentence(s) still wrong after re-synthesis:", file=sys.stderr)
        for w in result.wrong[:20]:
            print(f"  {w['chapter']}:{w['sentence']} said {w['text']!r}, heard {w['heard']!r}", file=sys.stderr)
        print("fix them with --lexicon FILE, or try another take with --only CHAPTER:SENTENCE", file=sys.stderr)
        return 1
    return 0
