"""Which checkpoint of a fine-tune to keep, and when to stop: a pure rule over the evaluation curve.

Fine-tuning a voice first makes it sound more like the person, then (past a point) starts to garble words
while similarity barely moves. The rule never trades intelligibility away: among the evaluations whose
round-trip WER stays within `margin` of the base voice's WER (measured once, at step 0, on the same
sentences), keep the one with the highest speaker similarity; stop when `patience` evaluations in a row
brought no progress: neither a better kept checkpoint nor a similarity higher than any before. (A step
refused for its WER still shows the voice getting closer, and WER swings between neighbouring checkpoints,
so a later one may be both closer and clear; once similarity stops rising, more steps only risk the words.)
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Evaluation:
    step: int
    similarity: float   # cosine to the person's (held-out) clips' centroid
    wer: float          # round-trip word error rate, 0..1


@dataclass(frozen=True)
class Decision:
    kept: Evaluation | None   # None only for an empty curve
    stop: bool
    reason: str               # why this one was kept (and why training stops, when it does)


WER_MARGIN = 0.02   # issue #14's "within 2 points of the base voice"; `dh clone --wer-margin` changes it per voice


def wer_limit(base_wer: float, margin: float = WER_MARGIN) -> float:
    return base_wer + margin + 1e-9   # 1e-9: a WER equal to the limit is within it despite float rounding


def choose(curve: list[Evaluation], base_wer: float, *, patience: int, margin: float = WER_MARGIN,
           min_gain: float = 0.0, count_from: int = 0) -> Decision:
    """Apply the rule to a curve (in step order; step 0 is the base voice itself, so it can be kept).

    An evaluation replaces the kept one when it is within the WER limit and beats its similarity by more
    than `min_gain`. Training stops once `patience` evaluations after the kept one brought no such gain
    and no similarity higher than any before. A run continued with a longer preset gets a fresh window
    from step `count_from`: its similarity is compared with its own evaluations, not with the shorter
    run's peak (a draft's garbled last step at 0.70 stopped a `good` run after 3 evaluations while its
    similarity was rising again and its WER falling).
    """
    limit = wer_limit(base_wer, margin)
    kept: Evaluation | None = None
    for e in curve:
        if e.wer <= limit and (kept is None or e.similarity > kept.similarity + min_gain):
            kept = e
    if kept is None:
        return Decision(None, False, "nothing measured yet")
    rejected = [e for e in curve if e.wer > limit and e.similarity > kept.similarity]
    why = (f"highest similarity {kept.similarity:.2f} at step {kept.step} with WER {kept.wer:.1%}, within "
           f"{margin * 100:g} points of the base voice's {base_wer:.1%}")
    if kept.step == 0:
        why = (f"no step beat the base voice within {margin * 100:g} points of its WER {base_wer:.1%}; "
               f"kept the base voice (similarity {kept.similarity:.2f})")
    if rejected:
        worst = max(rejected, key=lambda e: e.similarity)
        why += (f"; step {worst.step} scored {worst.similarity:.2f} but was refused: its WER {worst.wer:.1%} "
                "was too high")
    last_progress, best = max(kept.step, count_from), float("-inf")
    for e in curve:
        in_window = count_from == 0 or e.step > count_from
        if in_window and e.similarity > best + min_gain:
            best = e.similarity
            last_progress = max(last_progress, e.step)
    since = [e for e in curve if e.step > last_progress]
    stop = patience > 0 and len(since) >= patience
    if stop:
        why += (f"; stopped early at step {curve[-1].step}: no gain in the last {len(since)} evaluations "
                "(similarity stopped rising)")
    return Decision(kept, stop, why)
