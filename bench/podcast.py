"""Podcast benchmark: minutes of processing per hour of audio, split into ASR / speakers / summary, and
peak memory, on a > 3-minute talk assembled from the real clips in ../shared/data. Also the ASR choice the
issue asks to measure first: word error rate and speed of faster-whisper beam 5 vs beam 1 on the clips
with exact references.

    python bench/podcast.py [--beam 1 5]   (DH_SUMMARY_GGUF=file.gguf: another model than the default)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--beam", type=int, nargs="+", default=[5, 1], help="beam sizes to compare (WER, RTF)")
    parser.add_argument("--asr-only", action="store_true", help="only the beam comparison")
    parser.add_argument("--threads", type=int, default=0, help="LLM threads (0: all cores)")
    parser.add_argument("--summary-beam", type=int, default=None, help="beam for the podcast run (default: dh podcast's)")
    args = parser.parse_args()
    data = Path(args.data)

    from pipelines import registry
    from pipelines.apps.podcast_cmd import LLAMA_CPP_FOR_SUMMARIES
    from pipelines.flows.podcast import PodcastFlow
    from tests.media import assemble_talk
    from voices.similarity import partial_embeddings

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
        talk = assemble_talk(data, Path(tmp) / "talk.wav")
        flow = PodcastFlow(registry.build("asr", "faster-whisper", **asr_options),
                           registry.build("llm", "llama-cpp", **llm_options), embedder=partial_embeddings)
        t = time.perf_counter()
        result = flow.run(talk, Path(tmp) / "out", language="en")
        total = time.perf_counter() - t
    hours = result.duration / 3600
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    s = result.seconds
    print(f"\nPodcast flow on {result.duration / 60:.1f} min of real speech ({result.windows} windows, "
          f"{len(result.turns)} lines, {len(result.speakers)} speakers, {len(result.summary.chapters)} chapters, "
          f"{result.summary.llm_calls} LLM calls), {os.cpu_count()} cores, LLM threads {args.threads or 'all'}, "
          f"load average before {load:.1f}")
    print("| step | seconds | minutes per hour of audio |\n|---|---|---|")
    for name in ("asr", "speakers", "summary", "outputs"):
        print(f"| {name} | {s.get(name, 0.0):.1f} | {s.get(name, 0.0) / 60 / hours:.1f} |")
    print(f"| total (incl. decoding, VAD, model loads) | {total:.1f} | {total / 60 / hours:.1f} |")
    print(f"\npeak RSS: {peak:.0f} MB")
    print("(the summary's cost grows with the transcript's tokens: per-hour figures from a few minutes are an "
          "estimate; the final reduce step is paid once per file)")


if __name__ == "__main__":
    main()
