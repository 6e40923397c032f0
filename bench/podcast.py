"""Podcast benchmark: minutes of processing per hour of audio, split into ASR / speakers / summary, and
peak memory, on a > 3-minute talk assembled from the real clips in ../shared/data. Also the ASR choice the
issue asks to measure first: word error rate and speed of faster-whisper beam 5 vs beam 1 on the clips
with exact references.

    python bench/podcast.py [--beam 1 5]   (DH_SUMMARY_GGUF=file.gguf: another model than the default)
    python bench/podcast.py --minutes 60 --voices joe,lj   (a real hour: see long_talk)
"""
from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def asr_choice(data: Path, beams: list[int]) -> list[tuple]:
    from pipelines import registry
    from pipelines.audio import load_audio
    from pipelines.text import word_error_rate

    with open(data / "asr/en/transcripts.tsv", encoding="utf-8") as f:
        clips = [(data / "asr/en" / r["file"], r["transcript"]) for r in csv.DictReader(f, delimiter="\t")]
    with open(data / "voice/ljspeech/metadata.csv", encoding="utf-8") as f:  # id|text|normalised text
        clips += [(data / "voice/ljspeech/wavs" / f"{r[0]}.wav", r[2]) for r in csv.reader(f, delimiter="|")]
    out = []
    for beam in beams:
        asr = registry.build("asr", "faster-whisper", beam_size=beam)
        _ = asr.model
        hyp, ref, seconds, audio_s = [], [], 0.0, 0.0
        for path, reference in clips:
            audio = load_audio(path)
            t = time.perf_counter()
            hyp.append(asr.transcribe(audio, language="en").text)
            seconds += time.perf_counter() - t
            audio_s += audio.duration
            ref.append(reference)
        out.append((beam, word_error_rate(" ".join(ref), " ".join(hyp)), seconds / audio_s))
    return out


def long_talk(data: Path, minutes: float, voices: list[str], out: Path) -> Path:
    """About `minutes` of two-person "podcast": Robinson Crusoe's chapters read paragraph by paragraph,
    the voices taking turns, through the ONNX voice stage. Synthetic speech, so ASR is kinder than on a
    real recording; the point is an honest hour of tokens for the summary and of audio for the listening.
    Cached: the same arguments reuse the file."""
    import numpy as np

    from pipelines import registry
    from pipelines.audio import save_audio
    from pipelines.books import read_book
    from pipelines.types import Audio

    if out.is_file():
        return out
    speakers = [registry.build("tts", "vits-onnx", voice=v) for v in voices]
    sr = speakers[0].sample_rate
    pieces, seconds, turn = [], 0.0, 0
    book = read_book(data / "books/robinson_crusoe_pg521.epub")
    for chapter in book.chapters:
        for paragraph in chapter.paragraphs:
            audio = speakers[turn % len(speakers)].synthesize(paragraph).audio
            if audio.sample_rate != sr:
                raise SystemExit("the voices must share a sample rate")
            pieces += [audio.samples, np.zeros(int(0.6 * sr), np.float32)]
            seconds += audio.duration + 0.6
            turn += 1
            print(f"\rnarrating the long talk: {seconds / 60:.1f} of {minutes:g} min", end="", file=sys.stderr)
            if seconds >= minutes * 60:
                break
        if seconds >= minutes * 60:
            break
    print(file=sys.stderr)
    out.parent.mkdir(parents=True, exist_ok=True)
    save_audio(out, Audio(np.concatenate(pieces), sr))
    return out


def faithfulness(summary: dict) -> dict:
    """Checkable figures of a summary JSON (as `dh podcast` writes it): how many of the words its points use
    occur in the transcript (a point built from words nobody said is likely invented), how far its chapters
    reach into the talk, and whether every quote is a transcript line at its time."""
    import re

    from pipelines.flows.podcast_skim import terms

    lines = summary["transcript"]
    said = {w for t in lines for w in terms(t["text"])}
    written = [w for c in summary["chapters"] for p in [c["title"], *c["points"]] for w in terms(p)]
    written += [w for p in summary.get("key_points", []) for w in terms(p)] + terms(summary.get("abstract", ""))
    by_id = {t["id"]: t for t in lines}
    quotes_ok = sum(1 for q in summary["quotes"]
                    if q["segment"] in by_id and by_id[q["segment"]]["text"] == q["text"]
                    and abs(by_id[q["segment"]]["start"] - q["start"]) < 1e-3)
    starts = [c["start"] for c in summary["chapters"]]
    return {"supported_words": sum(w in said for w in written) / max(len(written), 1),
            "unsupported": sorted({w for w in written if w not in said and not re.fullmatch(r"\d+", w)}),
            "last_chapter_at": max(starts) / summary["duration"] if starts else 0.0,
            "quotes_verbatim": f"{quotes_ok}/{len(summary['quotes'])}"}


def print_faithfulness(path: Path) -> None:
    import json

    f = faithfulness(json.loads(path.read_text(encoding="utf-8")))
    print(f"{path.name}: {f['supported_words']:.0%} of the summary's content words occur in the transcript; "
          f"last chapter at {f['last_chapter_at']:.0%} of the talk; quotes verbatim at their time: "
          f"{f['quotes_verbatim']}; words nobody said: {', '.join(f['unsupported'][:20]) or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--beam", type=int, nargs="+", default=[5, 1], help="beam sizes to compare (WER, RTF)")
    parser.add_argument("--asr-only", action="store_true", help="only the beam comparison")
    parser.add_argument("--threads", type=int, default=0, help="LLM threads (0: all cores)")
    parser.add_argument("--summary-beam", type=int, default=None, help="beam for the podcast run (default: dh podcast's)")
    parser.add_argument("--minutes", type=float, default=0,
                        help="instead of the ~5-minute talk of real clips, a long two-voice reading of this length")
    parser.add_argument("--voices", default="joe", help="voices taking turns in the long reading (comma-separated)")
    parser.add_argument("--score", nargs="+", metavar="SUMMARY_JSON",
                        help="only print the faithfulness figures of summaries `dh podcast` wrote")
    args = parser.parse_args()
    data = Path(args.data)
    if args.score:
        for name in args.score:
            print_faithfulness(Path(name))
        return

    from pipelines import registry
    from pipelines.apps.podcast_cmd import LLAMA_CPP_FOR_SUMMARIES
    from pipelines.cache import cache_dir
    from pipelines.asr.voice_activity import default_voice_activity
    from pipelines.flows.podcast import PodcastFlow
    from tests.media import assemble_talk
    from voices.similarity import partial_embeddings

    if not args.minutes:
        print("| ASR | WER (JFK, LibriSpeech, LJ Speech: 28 clips) | RTF |\n|---|---|---|")
        for beam, wer, rtf in asr_choice(data, args.beam):
            print(f"| faster-whisper base int8, beam {beam} | {wer:.1%} | {rtf:.3f} |")
    if args.asr_only:
        return

    gguf = os.environ.get("DH_SUMMARY_GGUF")
    llm_options = dict(LLAMA_CPP_FOR_SUMMARIES, n_threads=args.threads, **({"model": gguf} if gguf else {}))
    from pipelines.apps.podcast_cmd import FASTER_WHISPER_FOR_PODCASTS

    asr_options = {"beam_size": args.summary_beam} if args.summary_beam else FASTER_WHISPER_FOR_PODCASTS
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        if args.minutes:
            voices = args.voices.split(",")
            talk = long_talk(data, args.minutes, voices,
                             cache_dir("bench") / f"long-talk-{args.minutes:g}min-{'-'.join(voices)}.wav")
        else:
            talk = assemble_talk(data, Path(tmp) / "talk.wav")
        flow = PodcastFlow(registry.build("asr", "faster-whisper", **asr_options),
                           registry.build("llm", "llama-cpp", **llm_options), embedder=partial_embeddings,
                           voice_activity=default_voice_activity())
        # a long run keeps its work folder if it fails, to be continued (its figures then count only its own work)
        out = cache_dir("bench") / "podcast-out" if args.minutes else Path(tmp) / "out"
        t = time.perf_counter()
        result = flow.run(talk, out, language="en", resume=bool(args.minutes), overwrite=bool(args.minutes))
        total = time.perf_counter() - t
    hours = result.duration / 3600
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    s = result.seconds
    kind = f"a two-voice reading ({args.voices})" if args.minutes else "real speech"
    print(f"\nPodcast flow on {result.duration / 60:.1f} min of {kind} ({result.windows} windows, "
          f"{len(result.turns)} lines, {len(result.speakers)} speakers, {len(result.summary.chapters)} chapters, "
          f"{result.summary.llm_calls} LLM calls), {os.cpu_count()} cores, LLM threads {args.threads or 'all'}, "
          f"load average before {load:.1f}")
    print("| step | seconds | minutes per hour of audio |\n|---|---|---|")
    for name in ("asr", "speakers", "summary", "outputs"):
        print(f"| {name} | {s.get(name, 0.0):.1f} | {s.get(name, 0.0) / 60 / hours:.1f} |")
    print(f"| total (incl. decoding, VAD, model loads) | {total:.1f} | {total / 60 / hours:.1f} |")
    print(f"\npeak RSS: {peak:.0f} MB")
    if not args.minutes:
        print("(the summary's cost grows with the transcript's tokens: per-hour figures from a few minutes are an "
              "estimate; the final reduce step is paid once per file)")
    print_faithfulness(result.outputs["json"])
    print(f"title: {result.summary.title!r}; chapters: "
          + "; ".join(f"{c['start'] / 60:.0f} min {c['title']}" for c in result.summary.chapters))


if __name__ == "__main__":
    main()
