"""The quality report written with every cloned voice: does it sound like the person, and is it still
understood? Speaker similarity (resemblyzer cosine to the person's real clips) of the clone and of the base
voice, round-trip WER through the ASR stage, sample wavs, and a plain verdict."""
from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from pipelines.audio import load_audio, save_audio
from pipelines.stages import ASR

from .dataset import SAMPLE_RATE, read_metadata
from .evaluation import EVAL_SEEDS, HeldOutScorer, score_over_seeds
from .pitch import SAME_REGISTER, pitch_summary, semitones
from .profiles import VoiceProfile
from .selection import WER_MARGIN
from .similarity import centroid, embed, unit

GOOD_SIMILARITY, GOOD_WER = 0.75, 0.15
FLAT_MELODY = 0.5   # a clone whose pitch moves less than half as much as the person's sounds monotone


def quality_report(profile: VoiceProfile, base: VoiceProfile, dataset_dir: Path, sentences: list[str],
                   asr: ASR | None = None, *, references: list[str] | None = None,
                   training: dict | None = None, seeds=EVAL_SEEDS) -> dict:
    """Score base and clone against the person's held-out clips (`references`, never trained on) when there
    are any, else against all their clips; with `training` (the Job state), also plot the curve and say
    which step was kept and why."""
    from pipelines import registry

    from .vits.engine import VitsTTS

    clips = [c for c in read_metadata(dataset_dir / "metadata.tsv") if c.status == "ok"]
    real = [load_audio(dataset_dir / "wavs" / c.file, SAMPLE_RATE) for c in clips[:24]]
    held = [load_audio(dataset_dir / "wavs" / f, SAMPLE_RATE) for f in references or []]
    embeddings = np.array([embed(a) for a in real])
    target = centroid(held) if held else unit(embeddings.mean(axis=0))
    total = embeddings.sum(axis=0)   # each clip against the centroid of the others
    loo = [float(np.dot(e, unit(total - e))) for e in embeddings]
    scorer = HeldOutScorer(target, asr or registry.build("asr", "faster-whisper"), base.language)
    samples = profile.folder / "samples"
    samples.mkdir(exist_ok=True)
    figures = {}
    spoken: dict[str, list] = {"base": [], "clone": []}
    for label, voice in (("base", VitsTTS(VitsTTS.Config(voice=str(base.folder), device="cpu"))),
                         ("clone", VitsTTS(VitsTTS.Config(voice=str(profile.folder), device="cpu")))):
        def speak_and_keep(sentence: str, seed: int, label=label, voice=voice, number=itertools.count(1)):
            voice.config = replace(voice.config, seed=seed)
            audio = voice.synthesize(sentence).audio
            if seed == seeds[0]:   # one set of samples to listen to (and to measure the pitch of)
                save_audio(samples / f"{label}_{next(number)}.wav", audio)
                spoken[label].append(audio)
            return audio

        similarity, wer = score_over_seeds(scorer, speak_and_keep, sentences, seeds)
        figures[f"{label}_similarity"] = round(similarity, 3)
        figures[f"{label}_wer"] = round(wer, 3)
    figures["real_clips_similarity"] = round(float(np.mean(loo)), 3)  # how alike the person's own clips are
    # similarity alone overstates a clone in the wrong register (voices/pitch.py): say how high each speaks
    # and how much it moves within a sentence: a clone can be in the right register and still monotone
    summary = {"person": pitch_summary(held or real), "base": pitch_summary(spoken["base"]),
               "clone": pitch_summary(spoken["clone"])}
    pitch = {k: v[0] for k, v in summary.items()}
    spread = {k: v[1] for k, v in summary.items()}
    figures.update({f"{k}_pitch_hz": round(v, 1) for k, v in pitch.items() if v})
    figures.update({f"{k}_pitch_spread": round(v, 2) for k, v in spread.items() if v})
    figures["pitch_gap_semitones"] = round(_pitch_gap(pitch), 1)
    # how clean each sounds (DNSMOS overall, 1-5): buzz and roughness that similarity and WER do not see
    from .naturalness import dnsmos

    clean = {"person": (held or real)[:8], "base": spoken["base"], "clone": spoken["clone"]}
    figures.update({f"{k}_dnsmos": round(dnsmos(v)["ovrl"], 2) for k, v in clean.items() if v})
    good, verdict = judge(figures, pitch, training or {})
    figures["verdict"] = verdict
    figures["good"] = bool(good)
    figures["reference"] = (f"{len(held)} held-out clips (never trained on)" if held
                            else f"all {len(real)} of the person's clips (too few to hold any out)")
    training = training or {}
    if training.get("kept"):
        figures["kept_step"] = training["kept"]["step"]
        figures["kept_because"] = training.get("reason", "")
    if training.get("curve"):
        plot_curve(training["curve"], training.get("kept", {}).get("step"), training.get("base_wer"),
                   profile.folder / "curve.png", _margin_points(training) / 100)
    (profile.folder / "quality.json").write_text(json.dumps(figures, indent=2), encoding="utf-8")
    lines = [f"# Voice quality report: {profile.name}", "",
             f"Verdict: **{verdict}**", "",
             "| | speaker similarity to the person (cosine) | round-trip WER | median pitch | pitch spread | "
             "how clean it sounds (DNSMOS, 1-5) |",
             "|---|---|---|---|---|---|",
             f"| base voice ({base.name}) | {figures['base_similarity']:.3f} | {figures['base_wer']:.1%} | "
             f"{_hz(pitch['base'])} | {_st(spread['base'])} | {_mos(figures.get('base_dnsmos'))} |",
             f"| clone | {figures['clone_similarity']:.3f} | {figures['clone_wer']:.1%} | {_hz(pitch['clone'])} | "
             f"{_st(spread['clone'])} | {_mos(figures.get('clone_dnsmos'))} |",
             f"| the person's own clips (leave-one-out) | {figures['real_clips_similarity']:.3f} | | "
             f"{_hz(pitch['person'])} | {_st(spread['person'])} | {_mos(figures.get('person_dnsmos'))} |", "",
             f"Measured on {len(sentences)} sentences, each spoken with {len(seeds)} seeds (figures are the mean); "
             "samples in `samples/` (base_N.wav, clone_N.wav, the first seed).",
             f"Similarity: resemblyzer embeddings against the centroid of {figures['reference']}. "
             "WER: the ASR stage transcribing the synthetic speech. Pitch: the median F0 of voiced frames (pYIN); "
             "spread: how far it moves around each sentence's median, in semitones (intonation). How clean: "
             "DNSMOS P.835's overall score (Microsoft's model of listeners' ratings, 1-5) of the same samples; it "
             "hears buzz, hiss and roughness, not whether the melody is natural."]
    if profile.pitch_shift:
        lines += ["", f"The clone was trained in {base.name}'s register, on the person's clips moved "
                      f"{-profile.pitch_shift:+.1f} semitones (formants kept), and speaks "
                      f"{profile.pitch_shift:+.1f} semitones from there: a fine-tuned decoder keeps its base "
                      "voice's pitch. The move itself costs some of how clean it sounds: the base voice's row "
                      "is it at its own pitch (README: \"How clean it sounds\")."]
    if profile.melody_gain:
        lines += ["", f"It speaks with {base.name}'s intonation (the same phonemes, said by {base.name} beside it "
                      f"and followed pulse by pulse), moved {profile.melody_gain:g} times as far: the person's "
                      "pitch spread over the base voice's. A few minutes of fine-tuning leave the decoder's own "
                      "melody nearly flat (`dh clone ... --own-melody` keeps it). The figures above are "
                      "measured as it speaks now" + ("; so was every step of the training curve below (step 0, the "
                      "base voice, with the same melody)." if training.get("scored_in_melody") else
                      "; the training curve below scored it in its own melody.")]
    if profile.noise_scale != base.noise_scale:
        lines += ["", f"It samples its latents at noise scale {profile.noise_scale:g} ({base.name}: "
                      f"{base.noise_scale:g}), as it was scored while training: nearer the text's prior, the "
                      "words of a few-clip clone stay clearer (`dh --set tts.vits-onnx.noise_scale=... say ...` to change)."]
    rebuilt = training.get("posterior") or {}
    if rebuilt.get("held_out_pitch_spread") and rebuilt.get("held_out_pitch_spread_through"):
        lines += ["", f"The clone learnt from latents of the posterior encoder rebuilt from {base.name}'s own "
                      f"speech (Piper's export lacks it). {base.name}'s held-out speech sent through it and back "
                      f"through the decoder moves its pitch {rebuilt['held_out_pitch_spread_through']:.1f} "
                      f"semitones (spoken: {rebuilt['held_out_pitch_spread']:.1f}): the most melody a clone "
                      "can learn from it."]
    if training.get("curve"):
        lines += ["", "## Training", "",
                  f"Kept step {figures.get('kept_step')}: {figures.get('kept_because', '')}.", "",
                  "![similarity and WER while training](curve.png)", "",
                  "| step | similarity | round-trip WER |", "|---|---|---|",
                  *[f"| {e['step']}{' (kept)' if e['step'] == figures.get('kept_step') else ''} | "
                    f"{e['similarity']:.3f} | {e['wer']:.1%} |" for e in training["curve"]],
                  "", f"Scored during training against {training.get('reference', figures['reference'])}."]
    (profile.folder / "report.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return figures


def _margin_points(training: dict) -> float:
    """The voice's WER margin in points (a run begun before --wer-margin: the rule's default)."""
    return training.get("wer_margin", WER_MARGIN * 100)


def _pitch_gap(pitch: dict) -> float:
    """Semitones from the person's median pitch to the clone's (0 when either is unknown)."""
    return semitones(pitch["clone"], pitch["person"]) if pitch.get("clone") and pitch.get("person") else 0.0


def judge(figures: dict, pitch: dict, training: dict) -> tuple[bool, str]:
    """(good, a plain verdict saying what to do next) from the report's figures, the median pitches
    ({"person", "clone"} in Hz or None) and the Job state (a stopped longer preset: more steps won't help)."""
    preset = training.get("preset")
    gap = _pitch_gap(pitch)
    off_pitch = abs(gap) >= SAME_REGISTER
    melody, theirs = figures.get("clone_pitch_spread"), figures.get("person_pitch_spread")
    flat = bool(melody and theirs and melody < FLAT_MELODY * theirs)
    flat_melody = (f"melody is flat (pitch spread {melody:.1f} semitones, the person's {theirs:.1f}): a known "
                   "limitation of cloning today (README)") if flat else ""
    also = f"; its {flat_melody.replace('is flat', 'is also flat')}" if flat else ""
    close = figures["clone_similarity"] >= max(GOOD_SIMILARITY, figures["base_similarity"] + 0.05)
    if close and figures["clone_wer"] <= GOOD_WER and not off_pitch:
        if flat:
            return False, ("not yet good enough: the clone sounds like the person and is clearly understood, "
                           f"but its {flat_melody}")
        margin = _margin_points(training)
        if margin > WER_MARGIN * 100 and figures.get("base_wer") is not None:   # the user's own trade, said
            return True, ("good: the clone sounds like the person and is understood, misheard more often than "
                          f"the base voice as you allowed (round-trip WER {figures['clone_wer']:.1%} against "
                          f"{figures['base_wer']:.1%}; --wer-margin {margin:g})")
        return True, "good: the clone sounds like the person and is clearly understood"
    if off_pitch and figures["clone_wer"] <= GOOD_WER:
        return False, (f"not yet good enough: the clone speaks {abs(gap):.0f} semitones "
                       f"{'higher' if gap > 0 else 'lower'} than the person ({pitch['clone']:.0f} Hz against "
                       f"{pitch['person']:.0f} Hz); clone again without turning pitch matching off" + also)
    if figures["clone_wer"] > GOOD_WER:
        return False, ("not yet good enough: the clone is hard to understand (round-trip WER "
                       f"{figures['clone_wer']:.0%}); check the labels in dataset/metadata.tsv and train longer" + also)
    refused = _closer_but_refused(training)
    margin = _margin_points(training)
    if refused and refused["kept_step"] == 0:
        longer = "" if preset != "draft" else (
            "--resume with --preset good (the same training, three times as many steps: on the LJ Speech clips "
            "`good` once kept step 250 at 0.76 / 2.7 % after a draft that had kept none), ")
        clear = "" if preset == "clear" else (
            "--preset clear (words first: on the LJ Speech clips it kept a clone, 0.62 at 2.4-3.0 %, in two of its "
            "four runs since pauses are silent), ")
        return False, ("not yet good enough: no trained step was kept, because every step that came closer to the "
                       f"person (up to {refused['similarity']:.2f} at step {refused['step']}, WER "
                       f"{refused['wer']:.1%}) misheard more than {margin:g} points over the base voice's "
                       f"{training['curve'][0]['wer']:.1%}; a clone's words come and go from step to step (README); "
                       f"try {longer}{clear}more clean clips, or clone again with a larger --wer-margin to keep a "
                       "closer voice that is misheard more often" + also)
    stopped_for_good = training.get("stopped") and preset != "draft"
    if refused:   # a trained step was kept, and the steps that came closer lost their words
        advice = (f"later steps came closer (up to {refused['similarity']:.2f} at step {refused['step']}) but "
                  f"were misheard more (WER {refused['wer']:.1%}, over the {margin:g}-point limit): longer "
                  "training made its words worse, not better; add more clean clips, or clone again with a "
                  "larger --wer-margin to keep a closer voice that is misheard more often")
    elif stopped_for_good:
        advice = ("more steps stopped helping (training stopped early), so add more clean clips"
                  + ("" if preset in ("gpu", "full") else ", or train on a GPU (--preset gpu)"))   # not when it did
    elif preset in (None, "draft", "quick"):
        advice = "train longer (--resume with --preset good, or --preset gpu on a GPU) or add more clean clips"
    else:   # it ran all of a longer preset's steps (lj-seeded2: `good` after a draft was told to run `good`)
        gpu = "" if preset in ("gpu", "full") else "train on a GPU (--preset gpu), "
        steps = (training.get("curve") or [{}])[-1].get("step")
        advice = (f"all {steps or 'its'} steps of `{preset}` came no closer "
                  f"within {margin:g} points of the base voice's WER; add more clean clips, {gpu}or clone again "
                  "with a larger --wer-margin to keep a closer voice that is misheard more often")
    return False, ("not yet good enough: the clone does not sound enough like the person yet (similarity "
                   f"{figures['clone_similarity']:.2f}, the person's own clips {figures['real_clips_similarity']:.2f}); "
                   + advice + also)


def _closer_but_refused(training: dict) -> dict | None:
    """The closest step of the curve that came clearly (0.05) closer to the person than the kept step but
    was refused for its words, with the kept step's number as `kept_step`; None if there is none."""
    curve = training.get("curve") or []
    kept_step = training.get("kept", {}).get("step")
    kept = next((e for e in curve if e["step"] == kept_step), None)
    if kept is None:
        return None
    closer = [e for e in curve if e["step"] > kept_step and e["similarity"] >= kept["similarity"] + 0.05]
    return {**max(closer, key=lambda e: e["similarity"]), "kept_step": kept_step} if closer else None


def _mos(value: float | None) -> str:
    return f"{value:.2f}" if value else "–"


def _hz(value: float | None) -> str:
    return f"{value:.0f} Hz" if value else "–"


def _st(value: float | None) -> str:
    return f"{value:.2f} semitones" if value else "–"


def plot_curve(curve: list[dict], kept_step: int | None, base_wer: float | None, path: Path,
               margin: float = WER_MARGIN) -> Path:
    """similarity and WER against the training step, the kept step marked; a PNG beside the report."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [e["step"] for e in curve]
    fig, left = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        left.plot(steps, [e["similarity"] for e in curve], "o-", color="tab:blue", label="similarity")
        left.set_xlabel("training step")
        left.set_ylabel("speaker similarity (cosine)", color="tab:blue")
        right = left.twinx()
        right.plot(steps, [100 * e["wer"] for e in curve], "s--", color="tab:red", label="round-trip WER")
        right.set_ylabel("round-trip WER (%)", color="tab:red")
        if base_wer is not None:
            right.axhline(100 * (base_wer + margin), color="tab:red", alpha=0.3, linestyle=":",
                          label=f"WER limit (base + {margin * 100:g} points)")
        if kept_step is not None:
            left.axvline(kept_step, color="tab:green", alpha=0.6, label=f"kept: step {kept_step}")
        handles = [h for ax in (left, right) for h in ax.get_legend_handles_labels()[0]]
        # under the axes: inside, it hid points (the kept step's WER sat beneath it on a real draft)
        left.legend(handles, [h.get_label() for h in handles], loc="upper center", bbox_to_anchor=(0.5, -0.16),
                    ncol=len(handles), fontsize=8, frameon=False)
        left.set_title("voice clone: similarity and intelligibility while training")
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return path
