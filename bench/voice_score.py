"""Score finished voices side by side on more than the 8 sentences training scores: speaker similarity to a
person's held-out clips and round-trip WER (faster-whisper, Whisper's English normaliser) on the evaluation
sentences plus long sentences from a book, where clones garble first (archaic words, long clauses), and the
median pitch of the evaluation sentences beside the person's (a clone can sound similar at the wrong pitch),
with their pitch spread (semitones around each sentence's median: a monotone voice has little), and how clean
the evaluation sentences sound (DNSMOS overall, 1-5; the held-out clips' own score is printed first).

Usage: python bench/voice_score.py joe lj-good lj-gpu2 [--data ../shared/data] [--book-sentences 24]
       [--noise 0.667] (each voice's own noise scale unless given)
Prints one row per voice and the sentences each got wrong.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def book_sentences(data: Path, count: int) -> list[str]:
    """Sentences of 8-40 words from the first chapters of the EPUB, spread evenly."""
    if count <= 0:
        return []
    from pipelines.books import read_book

    book = read_book(data / "books" / "robinson_crusoe_pg521.epub")
    pool = [text for chapter in book.chapters[:3] for paragraph in chapter.sentences() for text in paragraph
            if 8 <= len(text.split()) <= 40]
    step = max(1, len(pool) // count)
    return pool[::step][:count]


def main() -> int:
    from pipelines import registry
    from pipelines.audio import load_audio
    from pipelines.text import word_error_rate
    from voices.dataset import SAMPLE_RATE
    from voices.evaluation import split_held_out
    from voices.finetune import EVAL_SENTENCES
    from voices.naturalness import dnsmos
    from voices.pitch import pitch_summary, semitones
    from voices.similarity import centroid, embed

    parser = argparse.ArgumentParser()
    parser.add_argument("voices", nargs="+")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--book-sentences", type=int, default=24)
    parser.add_argument("--engine", default="vits-onnx")
    parser.add_argument("--noise", type=float, help="noise scale for every voice (default: each voice's own)")
    args = parser.parse_args()
    clips = args.data / "voice" / "ljspeech"
    files = [f"{line.split('|')[0]}.wav" for line in (clips / "metadata.csv").read_text().splitlines()]
    _, held_out = split_held_out(files)   # the same 3 clips training holds out
    held = [load_audio(clips / "wavs" / f, SAMPLE_RATE) for f in held_out]
    target = centroid(held)
    person_f0, person_spread = pitch_summary(held)
    sets = {"eval": list(EVAL_SENTENCES), "book": book_sentences(args.data, args.book_sentences)}
    asr = registry.build("asr", "faster-whisper")
    print(f"{len(sets['eval'])} evaluation + {len(sets['book'])} book sentences; similarity to {len(held_out)} "
          f"held-out LJ clips (median pitch {person_f0:.0f} Hz, spread {person_spread:.2f} semitones, DNSMOS "
          f"{dnsmos(held)['ovrl']:.2f}); {args.engine}")
    print(f"{'voice':14} {'similarity':>10} {'WER eval':>9} {'WER book':>9} {'pitch':>7} {'semit.':>6} "
          f"{'spread':>6} {'DNSMOS':>6} {'wrong':>6} {'s':>5}")
    for name in args.voices:
        tts = registry.build("tts", args.engine, voice=name, **({} if args.noise is None else {"noise_scale": args.noise}))
        t0 = time.monotonic()
        sims, wers, wrong, spoken = [], {"eval": [], "book": []}, [], []
        for kind, sentences in sets.items():
            for sentence in sentences:
                audio = tts.synthesize(sentence).audio
                if kind == "eval":
                    spoken.append(audio)
                sims.append(float(np.dot(embed(audio), target)))
                heard = asr.transcribe(audio, language="en").text
                wer = word_error_rate(sentence, heard)
                wers[kind].append(wer)
                if wer > 0.34:
                    wrong.append((sentence, heard, wer))
        f0, spread = pitch_summary(spoken)
        book = f"{np.mean(wers['book']):9.1%}" if wers["book"] else f"{'-':>9}"
        print(f"{name:14} {np.mean(sims):10.3f} {np.mean(wers['eval']):9.1%} {book} {f0:5.0f}Hz "
              f"{semitones(f0, person_f0):+6.1f} {spread:6.2f} {dnsmos(spoken)['ovrl']:6.2f} {len(wrong):6} "
              f"{time.monotonic() - t0:5.0f}", flush=True)
        for sentence, heard, wer in wrong:
            print(f"    {wer:.0%} said {sentence!r}\n         heard {heard!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
