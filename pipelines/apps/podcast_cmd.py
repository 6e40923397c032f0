"""`dh podcast`: long audio -> speakers, chapters, verbatim quotes; optionally read back in a voice."""
from __future__ import annotations

import shutil
from pathlib import Path
import sys

from .. import registry
from ..config import build_stage
from ..errors import UserInputError
from ..jobs import ProgressLine
from .args import report_error

# A summary needs room to read a transcript chunk and to write JSON: settings for the in-process LLM that a
# chat does not need. Only filled in where the user's config or --set says nothing.
LLAMA_CPP_FOR_SUMMARIES = {"n_ctx": 8192, "max_tokens": 1024, "temperature": 0.2, "repeat_penalty": 1.0,
                           "timeout": 900.0}
# Measured by bench/podcast.py on 28 real clips (JFK, LibriSpeech, LJ Speech): greedy decoding has the same WER
# as beam 5 (5.1 % vs 5.3 %) in half the time, which is what hours of audio need.
FASTER_WHISPER_FOR_PODCASTS = {"beam_size": 1}


def add_parser(sub) -> None:
    p = sub.add_parser("podcast", help="summarize long audio: speakers, chapters, verbatim timed quotes")
    p.add_argument("files", nargs="+", metavar="FILE", help="audio or video files (hours are fine)")
    p.add_argument("--voice", help="also read the summary aloud in this voice (see: dh voices)")
    p.add_argument("--video", action="store_true", help="also render the read-back as a talking head (--face)")
    p.add_argument("--face", metavar="PORTRAIT", help="portrait for --video")
    p.add_argument("--language", help="language of the speech, e.g. en (default: detect)")
    p.add_argument("--out", default=".", metavar="DIR", help="output folder (default: current)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its work folder")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--keep-work", action="store_true", help="keep the work folder (cache) after success")
    p.add_argument("--read-all", action="store_true",
                   help="the LLM reads every transcript line (default: talks over ~20 min are skimmed to the "
                        "central lines of every 3 minutes; measured on a one-hour reading, 2 cores: the summary "
                        "took 3.4 min skimmed, where reading it all spent ~12 min in map steps alone)")
    p.set_defaults(func=cmd_podcast)


def summary_llm(config: dict):
    llm = config.setdefault("llm", {})
    if llm.get("engine", "llama-cpp") == "llama-cpp":
        options = llm.setdefault("llama-cpp", {})
        for key, value in LLAMA_CPP_FOR_SUMMARIES.items():
            options.setdefault(key, value)
    return build_stage(config, "llm")


def podcast_asr(config: dict):
    asr = config.setdefault("asr", {})
    if (asr.get("engine") or registry.DEFAULTS["asr"]) == "faster-whisper":
        options = asr.setdefault("faster-whisper", {})
        for key, value in FASTER_WHISPER_FOR_PODCASTS.items():
            options.setdefault(key, value)
    return build_stage(config, "asr")


def cmd_podcast(args, config) -> int:
    from ..asr.voice_activity import default_voice_activity
    from ..flows.podcast import SKIM_TOKENS, PodcastFlow

    if args.video and not args.face:
        raise UserInputError("--video needs --face PORTRAIT (a frontal photo)")
    video = bool(args.video or args.face)
    if args.voice:
        tts_section = config.setdefault("tts", {})
        tts_section.setdefault(tts_section.get("engine") or registry.DEFAULTS["tts"], {})["voice"] = args.voice
    tts = build_stage(config, "tts") if (args.voice or video) else None
    lipsync = build_stage(config, "lipsync") if video else None
    flow = PodcastFlow(podcast_asr(config), summary_llm(config), tts=tts, lipsync=lipsync,
                       portrait=args.face if video else None, voice_activity=default_voice_activity(),
                       read_tokens=None if args.read_all else SKIM_TOKENS)
    failed = 0
    out_existed = Path(args.out).exists()
    for name in args.files:
        try:
            result = flow.run(name, args.out, language=args.language, resume=args.resume, overwrite=args.overwrite,
                              keep_work=args.keep_work, progress=ProgressLine(name))
        except UserInputError as exc:  # bad input: nothing to resume, leave nothing behind
            failed += 1
            shutil.rmtree(flow.work_dir(name, args.out), ignore_errors=True)
            if not out_existed and Path(args.out).is_dir() and not any(Path(args.out).iterdir()):
                Path(args.out).rmdir()  # the folder this run made, left empty: no trace of a failed run
            report_error(exc, args.verbose)
            continue
        except Exception as exc:  # a crash keeps the work folder: --resume continues from it
            failed += 1
            report_error(exc, args.verbose)
            if flow.work_dir(name, args.out).exists():
                print(f"  (finished pieces kept in {flow.work_dir(name, args.out)}; rerun with --resume)",
                      file=sys.stderr)
            continue
        s = result.summary
        print(f"{name}: {s.title!r} [{result.duration / 60:.1f} min, {result.language}, "
              f"{len(result.speakers)} speaker(s), {len(s.chapters)} chapters, {len(s.quotes)} quotes]")
        for path in result.outputs.values():
            print(f"  {path}")
    if failed:
        print(f"{failed} of {len(args.files)} file(s) failed", file=sys.stderr)
    return 1 if failed else 0


