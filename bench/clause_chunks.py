"""Round-trip WER of long book sentences spoken clause by clause (each clause one model call, the default)
against each sentence as one call, per voice and seed: fine-tuned clones garble long inputs.

Usage: python bench/clause_chunks.py joe lj-heard [--seeds 0 1] [--book-sentences 24] [--data ../shared/data]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def whole_sentences(clause_phonemes):
    """sentence_phonemes as it was before 2026-11-27: a sentence's clauses joined into one model call."""
    from voices.frontend import Sentence

    def joined(text: str, voice: str = "en-us"):
        parts = clause_phonemes(text, voice)
        if not parts:
            return parts
        one = Sentence(text, words=parts[0].words)
        for part in parts:
            if one.phonemes:
                one.phonemes.append(" ")
                one.word_of.append(None)
            one.phonemes += part.phonemes
            one.word_of += part.word_of
        return [one]
    return joined


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("voices", nargs="+")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--book-sentences", type=int, default=24)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--engine", default="vits-onnx")
    args = parser.parse_args()

    import voices.synthesis as synthesis
    from pipelines import registry
    from pipelines.text import word_error_rate
    from voice_score import book_sentences

    sentences = book_sentences(args.data, args.book_sentences)
    asr = registry.build("asr", "faster-whisper")
    by_clause = synthesis.sentence_phonemes
    ways = {"whole sentence": whole_sentences(by_clause), "clause by clause": by_clause}
    print(f"{len(sentences)} book sentences; {args.engine}; faster-whisper base")
    print(f"{'voice':12} {'seed':>4} {'chunks':>17} {'WER':>6} {'speech s':>9} {'bench s':>8}")
    for name in args.voices:
        for seed in args.seeds:
            tts = registry.build("tts", args.engine, voice=name, seed=seed)
            for way, split in ways.items():
                synthesis.sentence_phonemes = split
                t0, wers, seconds = time.monotonic(), [], 0.0
                for sentence in sentences:
                    audio = tts.synthesize(sentence).audio
                    seconds += audio.duration
                    wers.append(word_error_rate(sentence, asr.transcribe(audio, language="en").text))
                print(f"{name:12} {seed:4} {way:>17} {np.mean(wers):6.1%} {seconds:9.0f} "
                      f"{time.monotonic() - t0:8.0f}", flush=True)
    synthesis.sentence_phonemes = by_clause
    return 0


if __name__ == "__main__":
    sys.exit(main())
