"""VITS fast fine-tuning: a person's ~20 short clips -> a voice profile that speaks like them.

Starts from a pretrained voice (default: joe, the PyTorch port of Piper's ONNX). The ONNX export lacks
the posterior encoder, so it is first rebuilt from the base voice's own output (once per base voice,
cached), then the whole VITS is fine-tuned with Coqui's losses (mel, KL, duration, adversarial with a
fresh discriminator). Checkpoints are written atomically every few steps; `resume=True` continues where
an interrupted run stopped. The same code runs on CUDA when present.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import math
import os
import random
import shutil
import threading
import time
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Callable, NamedTuple

import numpy as np

from pipelines.cache import cache_dir
from pipelines.devices import torch_device
from pipelines.errors import ConfigError, UserInputError
from pipelines.jobs import Job
from pipelines.stages import ASR, Progress, no_progress

from .dataset import SAMPLE_RATE, prepare_dataset, read_metadata
from .evaluation import EVAL_SEEDS, HeldOutScorer, Scorer, evaluate_model, split_held_out
from .frontend import text_ids
from .profiles import PIPER_NOISE_SCALE, VoiceProfile, load_voice, read_profile, user_voices_dir
from .selection import WER_MARGIN, Evaluation, choose
from .vits.engine import TORCH_RNG
from .vits.port import load_voice_model
from .vits.speakers import (BASE_SPEAKER, PERSON_SPEAKER, fold_speaker, has_up_layer_conditioning, is_conditioning,
                            is_two_speaker, load_single_speaker_state, two_speaker_model)

log = logging.getLogger(__name__)

# English sentences the base voice speaks to itself when its posterior encoder is rebuilt
SELF_TALK = [
    "The quick brown fox jumps over the lazy dog.", "She sells sea shells by the sea shore.",
    "How much wood would a woodchuck chuck if a woodchuck could chuck wood?", "I would like a cup of coffee, please.",
    "The weather today is sunny with a light breeze from the west.", "Please call me back when you get this message.",
    "Reading books is one of the best ways to learn new things.", "We will meet at the station at seven o'clock.",
    "Music has the power to change the way we feel.", "Could you tell me the way to the nearest library?",
    "The children played in the park until the sun went down.", "Technology keeps changing how we live and work.",
    "Thank you very much for your kind help yesterday.", "A journey of a thousand miles begins with a single step.",
    "The museum opens at nine and closes at five.", "My favourite season is autumn, when the leaves turn red.",
]
# The base voice's own speech, mixed into training with a speaker embedding (voices/vits/speakers.py) so the
# shared networks keep how everything else is said: Harvard sentences (IEEE 1969, lists 1-4, phonetically
# balanced), none of them among the evaluation sentences below.
BASE_VOICE_SENTENCES = [
    "The birch canoe slid on the smooth planks.", "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.", "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.", "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.", "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.", "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.", "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.", "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.", "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.", "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.", "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.", "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.", "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.", "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.", "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.", "Read verse out loud for pleasure.",
    "Hoist the load to your left shoulder.", "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.", "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.", "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.", "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.", "What joy there is in living.",
]
EVAL_SENTENCES = [
    "Hello, this is my digital voice speaking to you today.",
    "I can read books, news and stories aloud in my own voice.",
    "The weather is lovely, so let's take a walk in the park.",
    "Thank you for listening, and have a wonderful day.",
    "The shop on the corner closes late on Fridays.",
    "Please remember to water the plants before you leave.",
    "My brother found an old map hidden in the attic.",
    "We watched the boats come back to the harbour at sunset.",
]  # 8 sentences, ~80 words: one misheard word moves WER by ~1.3 points, under the 2-point keep margin


@dataclass(frozen=True)
class Preset:
    posterior_steps: int
    steps: int
    batch_size: int
    lr: float
    checkpoint_every: int
    eval_every: int = 25      # score similarity/WER this often (and at the last step)
    patience: int = 3         # stop after this many evaluations without a better kept checkpoint
    # kept as the base voice learned them, so what is said and its rhythm stay intelligible while the flow,
    # decoder and posterior learn the new timbre. Measured on 24 LJ Speech clips, 40 CPU steps: both kept
    # -> similarity 0.63, round-trip WER 2.1 %; duration predictor trained too -> 0.62 and 12.9 %; nothing
    # kept, 150 steps -> 0.66 and 31 %. The duration loss is still computed and logged.
    frozen: tuple[str, ...] = ("text_encoder", "duration_predictor")
    # GPU paths, used only on CUDA (CPU training is unchanged): mixed precision, losses read every N steps
    # instead of a host sync per step, the next batch prepared by a helper thread
    amp: str | None = None
    loss_every: int = 1
    prefetch: bool = False
    # the flow learns at lr * flow_lr_scale: it maps the text to the voice's latents, and on ~20 clips it
    # is what starts to garble words first when it learns at full speed (issue #14's table)
    flow_lr_scale: float = 1.0
    # share of each batch spoken by the base voice itself (as speaker 0 of a two-speaker model; the person
    # is speaker 1 and is folded back into a single-speaker voice when saved): VITS-fast-fine-tuning's
    # auxiliary data, so the shared networks keep how everything else is said
    base_share: float = 0.0
    # what the base voice's speech trains: "all" (every loss, as VITS-fast-fine-tuning) or "prior" (only
    # the KL between the posterior and the text prior: it anchors how text maps to sound, through the flow
    # and the posterior, while the decoder that holds most of the timbre learns from the person alone;
    # the decoder is not even run for those clips)
    base_losses: str = "all"
    # the speaker embedding and its conditioning layers (two-speaker training only) learn at lr * this: they
    # start at zero and are all that tells the person from the base voice
    speaker_lr_scale: float = 1.0
    # two-speaker training only: the speaker is added after each of the decoder's upsampling layers too, not
    # only at its input (speakers.py, two_speaker_model); folded away when saved, as the rest
    speaker_every_up_layer: bool = False
    # weight of the KL term between the posterior (what the decoder learns from) and the text's prior
    # through the flow (what speech is made from): Coqui's 1.0 beside the mel loss's 45. Higher keeps the
    # person's latents predictable from text, which is what inference relies on
    kl_weight: float = 1.0
    # a running average of the generator's weights (this decay per step; 0: off) is what is scored, kept and
    # saved: adversarial fine-tuning on ~20 clips swings from step to step (WER 2 % at one step, 8 % the next)
    # and an average over the last ~1/(1-decay) steps smooths that noise away. On in `gpu` (0.99: on an H200
    # its WER fell to 2.9 % by step 450 while the live weights' swung 4-8 %); off on the CPU: a 150-step
    # draft, scored beside the live weights on the same run, gained nothing (README, bench/clone_paired.py)
    ema: float = 0.0
    # score each evaluation in a helper thread on a copy of the weights while training goes on
    # (ScoringBeside): on in `gpu`, where an evaluation stood the GPU still for as long as 60 steps; off on
    # a CPU, whose 2 cores training already uses
    score_beside: bool = False
    # how far from the text's prior the clone samples its latents when it speaks (scored, kept and saved
    # with it, in its config's `inference` section as Piper's voices have): Piper's 0.667 draws latents
    # the few-clip flow maps less surely to words. Scored beside 0.667 on two draft runs (bench/clone_paired.py),
    # 0.333 gave the same similarity with lower WER at 10 of 12 steps; the draft then kept 0.75 at 2.7 %
    # instead of 0.66 at 3.4 % (README: "The clone's noise scale")
    noise_scale: float = 0.333
    # weight of a log-magnitude loss on a 2048-point STFT below 4 kHz, where each harmonic of a voice has
    # its own bins (the 80-band mel loss blurs them): fine-tuned decoders fell into one glottal pulse per
    # latent frame, a flat 86.13 Hz (22050 / 256), which the mel loss barely sees and this loss does
    harmonic_weight: float = 0.0
    # weight (x the mel loss's 45) of a second mel loss, on speech decoded from latents drawn from the text's
    # prior (at `noise_scale`) through the reversed flow: what the voice decodes when it speaks, where the
    # usual loss decodes the posterior's latents of the real clip. The clip's alignment (MAS) lines the prior
    # up with the clip, so the flow and decoder are taught to say the clip's words from the text path itself
    text_path_weight: float = 0.0
    # weight of the adversarial terms (HiFi-GAN's generator and feature-matching losses) against Coqui's 1:
    # Piper's voices come without their discriminator, so a fine-tune starts one from random weights, and in
    # a 150-step draft it barely learns. At 0 the discriminator is neither run nor trained and the voice
    # learns from the mel and KL terms alone, at half the time per CPU step
    adversarial_weight: float = 1.0
    # the learning rate rises linearly over the first `warmup_steps` steps (0: full rate from the first):
    # Adam's first updates move every weight by about the full rate whatever its gradient, and the first
    # 25 steps of a draft cost the most words as scored (WER 1.0 -> 8.7 %; warmed up 1.7-2.7 %)
    warmup_steps: int = 0
    # the learning rate falls along a cosine to this fraction of itself by the preset's last step (1.0:
    # constant), so the last steps, the ones a short run keeps, are small ones
    lr_floor: float = 1.0
    gives: str = ""           # what the user gets, shown by `dh clone --help`; measured figures only


PRESETS = {
    # flow at 0.3 x: on the same clips, code and seed, 5 of 6 evaluations were kept (one-seed scoring, WER
    # 3.3-4.6 %) against 0 of 6 with the flow at full rate (5.5-9.8 %), at the same similarity
    # no adversarial terms: twice as fast a step on 2 CPU cores (2.1 s against 4.7) for the same curve (same
    # clips and seed: 0.67-0.75 at WER 3.4-6.7 %, with them 0.68-0.76 at 3.3-7.6 %) and DNSMOS no worse (step
    # 150: 2.41 against 2.15; README)
    # the rate warms up over the first 25 steps: at full rate from the first step, step 25 scored 0.67 at WER
    # 8.7 %; warmed up, 0.64 at 1.7-2.7 % (four runs, same clips and seed), so a draft has a kept clone early
    "draft": Preset(posterior_steps=300, steps=150, batch_size=4, lr=1e-4, checkpoint_every=25, eval_every=25,
                    patience=3, flow_lr_scale=0.3, adversarial_weight=0.0, warmup_steps=25,
                    gives="~11 min on 2 quiet CPU cores (+2.5 min the first time: the base voice's posterior "
                          "encoder is rebuilt and cached). On 24 LJ Speech clips (2026-11-28, three seeds; joe "
                          "heard at 1.4 %, so a 3.4 % limit) its steps came from similarity 0.47 to 0.65-0.74 "
                          "at WER 2.6-8.0 %; with the default seed it kept step 125 at 0.74 / 3.3 %, with "
                          "seeds 1 and 2 step 25 at 0.65 / 2.6 % and 0.66 / 3.3 % (their closer steps, up to "
                          "0.74, misheard at 3.7-8.0 %): which steps keep their words varies from run to run. "
                          "At the reader's pitch (221 Hz, hers 234 Hz), speaking with joe's melody widened "
                          "to hers"),
    # no adversarial terms, as `draft` (which it continues: with them it started a random discriminator at
    # step 150). Same clips and seed, 2026-11-28: without them 22 min, kept step 250 at 0.757 / 2.7 %, DNSMOS
    # 2.68; with them 46 min (its first half beside other work on the cores), kept step 100 at 0.737 / 2.9 %,
    # its later steps 0.74-0.77 at 5.9-12.4 %, DNSMOS 2.35 (README)
    "good": Preset(posterior_steps=300, steps=450, batch_size=4, lr=1e-4, checkpoint_every=25, eval_every=50,
                   patience=3, flow_lr_scale=0.3, adversarial_weight=0.0,
                   gives="~22 min on 2 quiet CPU cores, or a draft continued with --resume (~14 min more). "
                         "On 24 LJ Speech clips (2026-11-28): continuing today's draft, steps 200-450 came to "
                         "similarity 0.73-0.78 at WER 4.6-7.5 %, none within the 3.4 % limit, so the draft's "
                         "step 125 (0.74 / 3.3 %) stayed kept; run on its own before the melody limit (joe "
                         "heard at 1.0 %, a 3.0 % limit) it came to 0.70-0.78 and kept step 250 at 0.76 / "
                         "2.7 % (measured)"),
    # no adversarial terms and scored, kept and saved as a running average of the weights (decay 0.99): on
    # an H200, the same clips and code, two runs side by side (2026-11-28, README "On a GPU"), the live
    # weights rose to 0.79 similarity with WER swinging 4.2-7.9 % (joe kept), the average rose to 0.78 with
    # WER falling to 2.9 % by step 450 (kept). With the adversarial terms (2026-11-27) similarity peaked at
    # step 100 (0.78 / 4.9 %) and fell after it, and joe was kept
    "gpu": Preset(posterior_steps=1000, steps=1000, batch_size=16, lr=2e-4, checkpoint_every=50, eval_every=50,
                  patience=6, amp="bf16", loss_every=20, prefetch=True, flow_lr_scale=0.3,
                  adversarial_weight=0.0, ema=0.99, score_beside=True,
                  gives="for a CUDA GPU (bf16; stops when the voice stops improving, --minutes caps it). "
                        "Measured on an H200 shared by two runs (2026-11-28): 1.3 min of set-up, 0.2 s/step; "
                        "similarity to held-out clips 0.47 (joe, WER 1.7 %) -> 0.68 at step 100 -> 0.78 at "
                        "step 450 with WER 2.9 %, kept, 3.5 min after training began (the running average "
                        "of the weights; the live weights reached 0.79 at WER 5-8 %), its evaluations then "
                        "scored with training standing still (now beside it, not yet measured on a GPU). "
                        "The >= 0.80 at WER <= 3 % target is not met"),
    # half of each batch is the base voice's own speech (a second speaker, folded away when saved): the words
    # mostly stayed at the base voice's WER (7 of 8 scored steps in two runs, one-seed scoring; over 3 seeds
    # only the first step stays within the limit), the timbre moves less (README: "Training beside the base
    # voice's own speech"). Its voice read two chapters with a clean self-check. No adversarial terms, as
    # `draft`: 18.3 min instead of 28, on the same similarity/WER line (README)
    "clear": Preset(posterior_steps=300, steps=150, batch_size=8, lr=1e-4, checkpoint_every=25, eval_every=25,
                    patience=3, base_share=0.5, adversarial_weight=0.0,
                    gives="~15 min on 2 CPU cores; words first (half of each batch is joe's own speech). "
                          "On 24 LJ Speech clips (2026-11-28, its speaker embedding started from the seed; joe "
                          "heard at 1.4 %, so a 3.4 % limit) it came to similarity 0.61-0.67 at WER 3.5-6.7 % "
                          "and kept joe; earlier runs, their embedding started unseeded, kept step 50 at 0.62 "
                          "/ 3.0 %, step 75 at 0.62 / 2.4 %, or joe. draft's steps come closer (0.66-0.74) at "
                          "3.3-6.4 %, in less time (measured)"),
}
PRESET_ALIASES = {"quick": "draft", "full": "gpu"}   # earlier names, still in older voices' profiles
# what `dh clone` trains when no preset is named: the GPU's on a CUDA device, else this one; a resumed
# training goes on with the preset it last ran
AUTO_PRESET, CPU_PRESET, GPU_PRESET = "auto", "draft", "gpu"


def preset_name(name: str) -> str:
    name = PRESET_ALIASES.get(name, name)
    if name not in PRESETS:
        raise UserInputError(f"unknown preset '{name}'; valid choices: "
                             f"{', '.join([AUTO_PRESET, *PRESETS, *PRESET_ALIASES])}")
    return name


def auto_preset(on_gpu: bool, resumed_from: str | None = None) -> str:
    """The preset `auto` stands for: the one a resumed training last ran, else the GPU's or the CPU's."""
    if resumed_from:
        return preset_name(resumed_from)
    return GPU_PRESET if on_gpu else CPU_PRESET


@dataclass
class CloneOptions:
    name: str
    consent: str = ""            # who gave consent, when and how; stored in the profile
    preset: str = AUTO_PRESET    # or a name in PRESETS; auto: see auto_preset
    base: str = "joe"
    steps: int | None = None     # override the preset
    posterior_steps: int | None = None
    batch_size: int | None = None
    eval_every: int | None = None
    patience: int | None = None
    device: str = "auto"
    seed: int = 0
    resume: bool = False
    max_minutes: float | None = None   # stop training after this long (this run), keeping the best so far
    score_beside: bool | None = None   # None: the preset's (Preset.score_beside)
    # points of round-trip WER over the base voice's that a kept step may have (None: the rule's 2); more
    # keeps a closer voice that is misheard more often: the user's trade, decided once per voice
    wer_margin: float | None = None
    language: str | None = None
    eval_sentences: list[str] = field(default_factory=lambda: list(EVAL_SENTENCES))
    eval_seeds: tuple[int, ...] = EVAL_SEEDS   # each step's score is the mean over these draws of the noise
    # train in the base voice's register and speak in the person's (see measure_register); False trains on
    # the clips as they are
    match_pitch: bool = True
    # speak with the base voice's intonation scaled to the person's range (profiles.py, melody_gain); False:
    # with the fine-tuned decoder's own, which is nearly monotone (README, "A flat melody")
    borrow_melody: bool = True

    def preset_values(self) -> Preset:
        p = PRESETS[preset_name(self.preset)]
        return replace(p, steps=self.steps or p.steps, posterior_steps=self.posterior_steps if self.posterior_steps
                       is not None else p.posterior_steps, batch_size=self.batch_size or p.batch_size,
                       eval_every=self.eval_every or p.eval_every,
                       patience=self.patience if self.patience is not None else p.patience,
                       score_beside=p.score_beside if self.score_beside is None else self.score_beside)


def phoneme_ids(text: str, profile: VoiceProfile) -> list[int]:
    return text_ids(text, profile.piper_config["phoneme_id_map"], profile.espeak_voice)


def _spec(wave, model):
    from TTS.utils.audio.torch_transforms import wav_to_spec

    ac = model.config.audio
    return wav_to_spec(wave, ac.fft_size, ac.hop_length, ac.win_length, center=False)


def _mel(wave, model):
    from TTS.utils.audio.torch_transforms import spec_to_mel

    ac = model.config.audio
    return spec_to_mel(spec=_spec(wave, model), n_fft=ac.fft_size, num_mels=ac.num_mels,
                       sample_rate=ac.sample_rate, fmin=ac.mel_fmin, fmax=ac.mel_fmax)


def _self_speech(model, profile: VoiceProfile, sentences: list[str], device: str):
    """(phoneme ids, latents z, waveform) of `model` speaking each sentence at Piper's default noise: what the
    posterior rebuild learns from and the base voice's speech trained beside a person's clips. The caller
    seeds torch and holds no_grad (not inference_mode: Coqui caches mel bases and windows that training
    later differentiates through)."""
    import torch

    model.to(device).eval()
    hop = model.config.audio.hop_length
    model.inference_noise_scale, model.inference_noise_scale_dp, model.length_scale = 0.667, 0.8, 1.0
    for sentence in sentences:
        ids = phoneme_ids(sentence, profile)
        out = model.inference(torch.tensor([ids], device=device))
        z = out["z"][0]
        yield ids, z.clone(), out["model_outputs"][0, :, : z.shape[-1] * hop].clone()  # plain tensors


# How the posterior encoder is rebuilt: the base voice speaks SELF_TALK and the Harvard sentences twice (two
# noise draws, so the same words come with different melodies) and the encoder learns to map 128-frame crops
# of their spectrograms back to the latents that made them. Its mean is fitted by squared error; its variance by
# the Gaussian likelihood with the mean held fixed. Fitting both by the likelihood alone (as before 2026-11-27)
# let the encoder call the melody-bearing part of the latents noise: joe's speech (pitch spread 1.94 semitones)
# sent through it and joe's decoder came out at 0.53. Same data, crops and 300 steps: 0.53 by likelihood, 1.66
# with the mean fitted by squared error. (Clones still speak flat, for a second reason: README.)
POSTERIOR_RECIPE = {"draws": 2, "crop": 128, "batch": 16, "lr": 5e-4, "mean_loss": "mse"}


def _posterior_loss(target, m_q, logs_q, mask):
    """Squared error for the mean, Gaussian likelihood (mean held fixed) for the spread."""
    per = 0.5 * (target - m_q) ** 2 + 0.5 * (target - m_q.detach()) ** 2 * (-2 * logs_q).exp() + logs_q
    return (per * mask).sum() / (mask.sum() * target.shape[1])


def _crop_batch(pairs, rng: random.Random, size: int, crop: int):
    """`size` random (spectrogram, latents) crops of at most `crop` frames, zero-padded, with their lengths."""
    import torch

    cut = []
    for spec, z in rng.sample(pairs, min(size, len(pairs))):
        if spec.shape[-1] > crop:
            start = rng.randrange(spec.shape[-1] - crop)
            spec, z = spec[:, start:start + crop], z[:, start:start + crop]
        cut.append((spec, z))
    lengths = torch.tensor([s.shape[-1] for s, _ in cut], device=cut[0][0].device)
    width = int(lengths.max())
    pad = torch.nn.functional.pad
    return (torch.stack([pad(s, (0, width - s.shape[-1])) for s, _ in cut]),
            torch.stack([pad(z, (0, width - z.shape[-1])) for _, z in cut]), lengths)


def reconstruct(model, wave):
    """`wave` ([1, samples]) through the posterior encoder's mean and back through the decoder: the path a
    clone's decoder learns from. The caller holds no_grad and eval mode."""
    import torch

    spec = _spec(wave, model)
    _, m_q, _, mask = model.posterior_encoder(spec, torch.tensor([spec.shape[-1]], device=spec.device))
    return model.waveform_decoder(m_q * mask)[0, :, : wave.shape[-1]]


def rebuild_posterior(model, profile: VoiceProfile, steps: int, device: str, progress: Progress = no_progress,
                      seed: int = 0) -> dict:
    """Teach the posterior encoder to map the base voice's own audio back to the latents that made it.
    Cached per base voice, architecture and recipe, so a second clone of the same base skips this. The metrics
    say how close the rebuilt encoder comes: the held-out mel error, and the pitch spread of held-out speech
    before and after passing through it (the melody the clone can learn from)."""
    import torch

    from pipelines.types import Audio

    from .pitch import pitch_spread

    # the seed is in the key: the encoder starts from the caller's seeded weights (build_vits' seed) and
    # its base voice speaks with draws from the seed; those cached before 2026-11-28 started unseeded
    key = hashlib.sha256(json.dumps([profile.name, profile.architecture, str(profile.onnx_path or profile.weights),
                                     POSTERIOR_RECIPE, seed], sort_keys=True).encode()).hexdigest()[:12]
    cached = cache_dir("posterior") / f"{profile.name}-{key}-{steps}.pt"
    if cached.is_file():
        data = torch.load(cached, map_location="cpu", weights_only=True)
        model.posterior_encoder.load_state_dict(data["state"])
        progress(1.0, "posterior encoder: cached")
        return data["metrics"]
    recipe = POSTERIOR_RECIPE
    texts = SELF_TALK[:-4] + BASE_VOICE_SENTENCES
    pairs = []
    with torch.no_grad():
        for draw in range(recipe["draws"]):
            torch.manual_seed(seed + draw)
            for _, z, wave in _self_speech(model, profile, texts, device):
                spec = _spec(wave, model)[0]
                frames = min(spec.shape[-1], z.shape[-1])
                pairs.append((spec[:, :frames], z[:, :frames]))
            progress(0.0, f"posterior encoder: the base voice spoke {len(pairs)} sentences")
        torch.manual_seed(seed)
        held_out = [wave for _, _, wave in _self_speech(model, profile, SELF_TALK[-4:], device)]
    encoder = model.posterior_encoder
    sr = model.config.audio.sample_rate

    def as_audio(wave) -> Audio:
        return Audio(wave.reshape(-1).float().cpu().numpy(), sr)

    def through_encoder() -> tuple[float, list[Audio]]:
        """(mel L1, audio) of the held-out speech sent through the encoder's mean and the decoder."""
        encoder.eval()
        total, outs = 0.0, []
        with torch.no_grad():
            for wave in held_out:
                audio = reconstruct(model, wave)
                total += (_mel(audio, model) - _mel(wave[..., : audio.shape[-1]], model)).abs().mean().item()
                outs.append(as_audio(audio))
        return total / len(held_out), outs

    before, _ = through_encoder()
    optimizer = torch.optim.AdamW(encoder.parameters(), lr=recipe["lr"], betas=(0.8, 0.99))
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe["lr"], total_steps=max(steps, 1),
                                                   pct_start=0.05)
    rng = random.Random(seed)
    for step in range(steps):
        encoder.train()
        spec, target, lengths = _crop_batch(pairs, rng, recipe["batch"], recipe["crop"])
        _, m_q, logs_q, mask = encoder(spec, lengths)
        loss = _posterior_loss(target, m_q, logs_q, mask)
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(encoder.parameters(), 5.0)
        optimizer.step()
        schedule.step()
        if step % 10 == 0 or step == steps - 1:
            progress((step + 1) / steps, f"posterior encoder {step + 1}/{steps}: loss {loss.item():.3f}")
    after, rebuilt = through_encoder()
    spread, spoken = pitch_spread(rebuilt), pitch_spread([as_audio(w) for w in held_out])
    metrics = {"held_out_mel_l1_before": round(before, 3), "held_out_mel_l1_after": round(after, 3),
               "held_out_pitch_spread": None if spoken is None else round(spoken, 2),
               "held_out_pitch_spread_through": None if spread is None else round(spread, 2), "steps": steps}
    tmp = cached.with_suffix(".partial")
    torch.save({"state": encoder.state_dict(), "metrics": metrics}, tmp)
    os.replace(tmp, cached)
    return metrics


def base_voice_speech(model, profile: VoiceProfile, sentences: list[str], device: str, seed: int = 0,
                      progress: Progress = no_progress) -> list[tuple[list[int], np.ndarray]]:
    """(phoneme ids, samples) of the base voice speaking `sentences`: the auxiliary data trained beside the
    person's clips. Cached per base voice and sentence list, so a resumed or second clone skips it."""
    import torch

    key = hashlib.sha256(json.dumps([profile.name, profile.architecture, str(profile.onnx_path or profile.weights),
                                     sentences, seed], sort_keys=True).encode()).hexdigest()[:12]
    cached = cache_dir("base-speech") / f"{profile.name}-{key}.npz"
    if cached.is_file():
        data = np.load(cached)
        return [(data[f"ids{i}"].tolist(), data[f"wave{i}"]) for i in range(len(sentences))]
    items = []
    with torch.no_grad(), torch.random.fork_rng(devices=[] if device == "cpu" else None):
        torch.manual_seed(seed)
        for n, (ids, _, wave) in enumerate(_self_speech(model, profile, sentences, device)):
            items.append((ids, wave[0].float().cpu().numpy()))
            if n % 10 == 0:
                progress((n + 1) / len(sentences), f"the base voice speaks {n + 1}/{len(sentences)} sentences")
    tmp = cached.with_name(cached.stem + ".partial.npz")
    np.savez(tmp, **{f"ids{i}": np.array(ids, np.int64) for i, (ids, _) in enumerate(items)},
             **{f"wave{i}": wave for i, (_, wave) in enumerate(items)})
    os.replace(tmp, cached)
    return items


def _checkpoint_keys(path: Path) -> set[str]:
    import torch

    if not path.is_file():
        return set()
    return set(torch.load(path, map_location="cpu", weights_only=False, mmap=True)["model"])


LOSS_NAMES = ("disc", "gen", "mel", "kl", "dur")   # "disc" only with adversarial terms; "harm", "text" when on
HARMONIC_FFT, HARMONIC_TOP_HZ = 2048, 4000.0


def harmonic_loss(fake, real, sample_rate: int):
    """L1 between log magnitudes of a harmonic-resolving STFT (10.8 Hz bins at 22050 Hz) up to 4 kHz: a voice
    at the wrong pitch puts its 20th harmonic several bins off, while the mel loss's bands there are ~150 Hz wide."""
    import torch

    window = torch.hann_window(HARMONIC_FFT, device=fake.device)
    top = int(HARMONIC_TOP_HZ / sample_rate * HARMONIC_FFT) + 1

    def log_magnitude(wave):
        spec = torch.stft(wave.reshape(-1, wave.shape[-1]).float(), HARMONIC_FFT, hop_length=HARMONIC_FFT // 8,
                          window=window, center=True, return_complex=True)
        return torch.log(spec[:, :top].abs().clamp(min=1e-5))

    return (log_magnitude(fake) - log_magnitude(real)).abs().mean()


class Trainer:
    """Holds the model, optimizers and data; `step()` is one discriminator + one generator update.

    Options for a GPU (off by default, so CPU training is unchanged): `amp` ("bf16": autocast to bfloat16;
    "fp16": float16 with a GradScaler, CUDA only), `loss_every` (losses stay on the device and are read,
    averaged, every N steps: no host sync per step) and `prefetch` (a helper thread builds the next batch
    while this one trains).
    """

    def __init__(self, model, items: list[tuple[list[int], np.ndarray]], preset: Preset, device: str, seed: int,
                 *, amp: str | None = None, loss_every: int = 1, prefetch: bool = False,
                 base_items: list[tuple[list[int], np.ndarray]] | None = None):
        import torch

        self.model, self.items, self.preset, self.device = model.to(device), items, preset, device
        # a two-speaker model (voices/vits/speakers.py): the person is speaker 1, `base_items` (the base
        # voice's own speech) speaker 0 and fill `preset.base_share` of each batch
        self.two_speaker = hasattr(model, "emb_g")
        self.base_items = base_items or []
        if self.base_items and not self.two_speaker:
            raise ValueError("training on the base voice's speech needs a two-speaker model (two_speaker_model)")
        self.base_per_batch = round(preset.batch_size * preset.base_share) if self.base_items else 0
        if preset.base_losses not in ("all", "prior"):
            raise ValueError(f"base_losses must be 'all' or 'prior', not {preset.base_losses!r}")
        self.prior_only = preset.base_losses == "prior" and self.base_per_batch > 0
        self.loss_names = tuple(n for n in LOSS_NAMES if n != "disc" or preset.adversarial_weight) + \
            (("harm",) if preset.harmonic_weight else ()) + (("text",) if preset.text_path_weight else ())
        self.step_no = 0
        self.rng = random.Random(seed)
        torch.manual_seed(seed)
        for name, p in model.named_parameters():
            p.requires_grad_(not name.startswith(preset.frozen))
        gen = [(n, p) for n, p in model.named_parameters() if not n.startswith("disc.") and p.requires_grad]
        speaker = set() if preset.speaker_lr_scale == 1.0 else \
            {n for n, _ in gen if n.startswith("emb_g.") or is_conditioning(n)}   # at 1 x: the earlier layout
        groups = [{"params": [p for n, p in gen if not n.startswith("flow.") and n not in speaker], "lr": preset.lr},
                  {"params": [p for n, p in gen if n.startswith("flow.") and n not in speaker],
                   "lr": preset.lr * preset.flow_lr_scale},
                  {"params": [p for n, p in gen if n in speaker], "lr": preset.lr * preset.speaker_lr_scale}]
        betas, eps = (0.8, 0.99), 1e-9
        self.opt_d = torch.optim.AdamW(model.disc.parameters(), lr=preset.lr, betas=betas, eps=eps, weight_decay=0.01)
        self.opt_g = torch.optim.AdamW([g for g in groups if g["params"]], lr=preset.lr, betas=betas, eps=eps,
                                       weight_decay=0.01)
        self._full_rates = [[g["lr"] for g in o.param_groups] for o in (self.opt_d, self.opt_g)]
        self.generator_params = [p for _, p in gen]
        if not 0.0 <= preset.ema < 1.0:
            raise ValueError(f"ema must be a decay in [0, 1), not {preset.ema}")
        self.ema = [p.detach().clone() for p in self.generator_params] if preset.ema else []
        self.criteria = model.get_criterion()
        self.criteria[1].kl_loss_alpha = preset.kl_weight
        self.criteria[1].gen_loss_alpha *= preset.adversarial_weight
        self.criteria[1].feat_loss_alpha *= preset.adversarial_weight
        self.device_type = "cuda" if str(device).startswith("cuda") else "cpu"
        if amp not in (None, "bf16", "fp16"):
            raise ValueError(f"amp must be None, 'bf16' or 'fp16', not {amp!r}")
        if amp == "fp16" and self.device_type != "cuda":
            raise ValueError("fp16 training needs CUDA; use amp='bf16' on a CPU")
        self.amp = amp
        self.scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None
        self.loss_every = max(1, loss_every)
        self._losses: list = []          # per-step loss vectors, still on the device
        self._pool = None
        if prefetch:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(1, thread_name_prefix="vits-batches")
        self._pending = None             # (rng state before choosing it, future of the next batch)

    def _choose(self) -> list[tuple[int, int]]:
        """(speaker, index) pairs: the person's clips first, then the base voice's."""
        person = [(PERSON_SPEAKER, self.rng.randrange(len(self.items)))
                  for _ in range(self.preset.batch_size - self.base_per_batch)]
        return person + [(BASE_SPEAKER, self.rng.randrange(len(self.base_items))) for _ in range(self.base_per_batch)]

    def _build(self, chosen: list[tuple[int, int]]) -> list[dict]:
        """One batch; with `prior_only`, two: the person's clips, then the base voice's."""
        if not self.prior_only:
            return [self._collate(chosen)]
        return [self._collate([c for c in chosen if c[0] == PERSON_SPEAKER]),
                self._collate([c for c in chosen if c[0] == BASE_SPEAKER])]

    def _collate(self, chosen: list[tuple[int, int]]) -> dict:
        import torch

        hop = self.model.config.audio.hop_length
        picked = [(self.items if speaker == PERSON_SPEAKER else self.base_items)[i] for speaker, i in chosen]
        tokens = [torch.tensor(t) for t, _ in picked]
        waves = [torch.tensor(w[: len(w) // hop * hop]) for _, w in picked]
        longest = max(len(w) for w in waves)
        pin = self.device_type == "cuda"
        wave = torch.stack([torch.nn.functional.pad(w, (0, longest - len(w))) for w in waves])[:, None]
        batch = {
            "tokens": torch.nn.utils.rnn.pad_sequence(tokens, batch_first=True).to(self.device),
            "token_lens": torch.tensor([len(t) for t in tokens], device=self.device),
            "waveform": (wave.pin_memory() if pin else wave).to(self.device, non_blocking=pin),
            "waveform_rel_lens": torch.tensor([len(w) / longest for w in waves], device=self.device),
            "d_vectors": None, "language_ids": None,
            "speaker_ids": torch.tensor([sp for sp, _ in chosen], device=self.device) if self.two_speaker else None,
        }
        return self.model.format_batch_on_device(batch)

    def batch(self) -> list[dict]:
        if self._pool is None:
            return self._build(self._choose())
        if self._pending is None:
            self._pending = (self.rng.getstate(), self._pool.submit(self._build, self._choose()))
        current = self._pending[1]
        self._pending = (self.rng.getstate(), self._pool.submit(self._build, self._choose()))
        return current.result()

    def _autocast(self):
        import contextlib

        import torch

        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=torch.bfloat16 if self.amp == "bf16" else torch.float16)

    def _update(self, loss, optimizer, params) -> None:
        import torch

        optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            optimizer.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(params, 5.0)
            self.scaler.step(optimizer)

    def step(self) -> dict | None:
        """One update. Returns the losses (averaged since the last read) every `loss_every` steps, else None."""
        with TORCH_RNG:   # a step scored beside training (ScoringBeside) draws none of this step's numbers
            return self._step()

    def _step(self) -> dict | None:
        import torch

        self.model.train()
        self._follow_schedule()
        batch, *base = self.batch()
        adversarial = bool(self.preset.adversarial_weight)
        judged = contextlib.nullcontext if adversarial else lambda: _without_discriminator(self.model)
        with self._autocast(), judged():
            _, loss_d = self.model.train_step(batch, self.criteria[0], 0)   # also runs the generator
        if adversarial:
            self._update(loss_d["loss"], self.opt_d, list(self.model.disc.parameters()))
        with self._autocast(), judged():
            _, loss_g = self.model.train_step(batch, self.criteria[1], 1)
            loss = loss_g["loss"] + (self._prior_loss(base[0]) if base else 0.0)
            if self.preset.harmonic_weight:
                cache = self.model.model_outputs_cache
                loss_g["loss_harm"] = harmonic_loss(cache["model_outputs"], cache["waveform_seg"],
                                                    self.model.config.audio.sample_rate)
                loss = loss + self.preset.harmonic_weight * loss_g["loss_harm"]
            if self.preset.text_path_weight:
                loss_g["loss_text"] = self._text_path_loss(batch)
                loss = loss + self.preset.text_path_weight * self.criteria[1].mel_loss_alpha * loss_g["loss_text"]
        self._update(loss, self.opt_g, self.generator_params)
        if self.scaler is not None:
            self.scaler.update()
        if self.ema:
            with torch.no_grad():
                torch._foreach_lerp_(self.ema, [p.detach() for p in self.generator_params], 1.0 - self.preset.ema)
        self.step_no += 1
        nan = torch.tensor(float("nan"), device=self.device)
        found = {"disc": loss_d.get("loss"), "gen": loss_g.get("loss"), "mel": loss_g.get("loss_mel"),
                 "kl": loss_g.get("loss_kl"), "dur": loss_g.get("loss_duration"),
                 "harm": loss_g.get("loss_harm"), "text": loss_g.get("loss_text")}
        self._losses.append(torch.stack([(found[n].detach().float().reshape(()) if found[n] is not None else nan)
                                         for n in self.loss_names]))
        return self.read_losses() if self.step_no % self.loss_every == 0 else None

    def rate_factor(self, step: int) -> float:
        """The share of the full learning rate that step `step` (0-based) trains at."""
        preset, factor = self.preset, 1.0
        if preset.warmup_steps:
            factor = min(1.0, (step + 1) / preset.warmup_steps)
        if preset.lr_floor < 1.0:
            done = min(step / max(preset.steps, 1), 1.0)
            factor *= preset.lr_floor + (1.0 - preset.lr_floor) * 0.5 * (1.0 + math.cos(math.pi * done))
        return factor

    def _follow_schedule(self) -> None:
        """Sets this step's rates from this preset, whatever a resumed checkpoint's optimizer saved (a draft
        stopped while warming up and continued as `good` would otherwise go on at its reduced rate)."""
        factor = self.rate_factor(self.step_no)
        for optimizer, rates in zip((self.opt_d, self.opt_g), self._full_rates):
            for group, rate in zip(optimizer.param_groups, rates):
                group["lr"] = rate * factor

    def _prior_loss(self, batch: dict):
        """The KL term alone for the base voice's clips (scaled as in the full loss), without running the
        decoder."""
        from TTS.tts.utils.helpers import sequence_mask

        criterion = self.criteria[1]
        with _without_decoder(self.model) as model:
            out = model.forward(batch["tokens"], batch["token_lens"], batch["spec"], batch["spec_lens"],
                                batch["waveform"], aux_input={"d_vectors": None, "language_ids": None,
                                                              "speaker_ids": batch["speaker_ids"]})
        mask = sequence_mask(batch["spec_lens"]).unsqueeze(1)   # as the criterion masks its own KL term
        return criterion.kl_loss(out["z_p"], out["logs_q"], out["m_p"], out["logs_p"], mask) * criterion.kl_loss_alpha

    def _text_path_loss(self, batch: dict):
        """Mel L1 of the decoder's speech from the text's prior (as the voice speaks: latents sampled at the
        preset's noise scale, the flow reversed) against the real clip, on the segment the main loss decoded."""
        import torch
        from TTS.tts.utils.helpers import segment, sequence_mask

        model, cache = self.model, self.model.model_outputs_cache
        m_p, logs_p = cache["m_p"], cache["logs_p"]          # the prior, expanded by the clip's alignment
        mask = sequence_mask(batch["spec_lens"], m_p.size(2)).unsqueeze(1).to(m_p.dtype)
        g = model.emb_g(batch["speaker_ids"]).unsqueeze(-1) if self.two_speaker else None
        z_p = (m_p + torch.randn_like(m_p) * torch.exp(logs_p) * self.preset.noise_scale) * mask
        z = model.flow(z_p, mask, g=g, reverse=True)
        size = model.spec_segment_size
        spoken = model.waveform_decoder(segment(z, cache["slice_ids"], size, pad_short=True), g=g)
        with torch.autocast(self.device_type, enabled=False):
            real = segment(batch["mel"].float(), cache["slice_ids"], size, pad_short=True)
            return torch.nn.functional.l1_loss(_mel(spoken.float(), model), real)

    @contextlib.contextmanager
    def averaged(self):
        """The model with the running average of its weights in place (when `ema` is on), for scoring and
        saving; training resumes from its own weights afterwards."""
        import torch

        if not self.ema:
            yield self.model
            return
        live = [p.detach().clone() for p in self.generator_params]
        with torch.no_grad():
            torch._foreach_copy_(self.generator_params, self.ema)
        try:
            yield self.model
        finally:
            with torch.no_grad():
                torch._foreach_copy_(self.generator_params, live)

    def read_losses(self) -> dict | None:
        """The losses averaged over the steps since the last read (one host sync), or None if none."""
        import torch

        if not self._losses:
            return None
        values = torch.stack(self._losses).mean(0).tolist()
        self._losses.clear()
        return dict(zip(self.loss_names, values))

    def save(self, path: Path) -> None:
        import torch

        rng = self._pending[0] if self._pending else self.rng.getstate()  # as if the prefetched batch were not drawn
        tmp = path.with_suffix(".partial")
        torch.save({"model": self.model.state_dict(), "opt_d": self.opt_d.state_dict(), "opt_g": self.opt_g.state_dict(),
                    "step": self.step_no, "rng": rng, "torch_rng": torch.get_rng_state(),
                    **({"scaler": self.scaler.state_dict()} if self.scaler else {}),
                    **({"ema": [e.cpu() for e in self.ema]} if self.ema else {})}, tmp)
        os.replace(tmp, path)  # atomic: an interruption mid-save keeps the previous checkpoint

    def load(self, path: Path) -> None:
        import torch

        data = torch.load(path, map_location="cpu", weights_only=False)
        if self.two_speaker and not is_two_speaker(data["model"]):   # a one-speaker run, continued with both
            load_single_speaker_state(self.model, data["model"])
        else:
            self.model.load_state_dict(data["model"])
        self.opt_d.load_state_dict(data["opt_d"])
        try:
            self.opt_g.load_state_dict(data["opt_g"])
        except ValueError:   # another recipe's layout (older flow groups, one speaker -> two): fresh moments
            log.info("step %d was trained with another recipe: its weights continue, the optimizer's running "
                     "averages start afresh", data["step"])
        self.step_no = data["step"]
        self.rng.setstate(data["rng"])
        torch.set_rng_state(data["torch_rng"])
        if self.scaler is not None and "scaler" in data:
            self.scaler.load_state_dict(data["scaler"])
        if self.ema:   # a run without an average (or another layout) starts it from the weights it resumes
            saved = data.get("ema") or []
            same = len(saved) == len(self.ema) and all(a.shape == b.shape for a, b in zip(saved, self.ema))
            with torch.no_grad():
                torch._foreach_copy_(self.ema, [t.to(self.device) for t in saved] if same
                                     else [p.detach() for p in self.generator_params])
        self._pending = None
        self._losses.clear()

    def generator_state(self) -> dict:
        return generator_state(self.model, self.two_speaker)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


@contextlib.contextmanager
def _without_discriminator(model):
    """The VITS training passes with a discriminator that judges nothing (no scores, no features): its
    losses are then zero, and neither pass spends time running it."""
    import torch

    class Absent(torch.nn.Module):
        def forward(self, *waves):
            return [], [], [], []

    disc = model.disc
    model.disc = Absent()
    try:
        yield model
    finally:
        model.disc = disc


@contextlib.contextmanager
def _without_decoder(model):
    """The VITS forward pass with its waveform decoder passing its input through (for losses that do not
    need the audio: the decoder is most of a CPU step)."""
    decoder = model.waveform_decoder
    decoder.forward = lambda z, g=None: z   # an instance attribute, shadowing the class's forward
    try:
        yield model
    finally:
        del decoder.forward


def usable_clips(dataset_dir: Path) -> list[str]:
    return [c.file for c in read_metadata(dataset_dir / "metadata.tsv") if c.status == "ok" and c.text.strip()]


def training_items(dataset_dir: Path, profile: VoiceProfile, files: list[str] | None = None,
                   pitch: float = 0.0, progress: Progress = no_progress) -> list[tuple[list[int], np.ndarray]]:
    """(phoneme ids, samples) of the usable clips, or of `files` only (the held-out clips left out), moved
    `pitch` semitones with their formants kept."""
    from pipelines.audio import load_audio

    from .pitch import in_parallel

    wanted = set(usable_clips(dataset_dir) if files is None else files)
    clips = [c for c in read_metadata(dataset_dir / "metadata.tsv")
             if c.file in wanted and c.status == "ok" and c.text.strip()]
    paths = [dataset_dir / "wavs" / c.file for c in clips]
    if pitch:
        waves = in_parallel(partial(_moved_clip, pitch=pitch), paths,
                            lambda done: progress(done / len(paths), f"moved {done} of {len(paths)} clips by "
                                                                     f"{pitch:+.1f} semitones"))
    else:
        waves = [load_audio(path, SAMPLE_RATE).samples for path in paths]
    return [(phoneme_ids(c.text, profile), wave) for c, wave in zip(clips, waves)]


def _moved_clip(path: Path, pitch: float) -> np.ndarray:
    """A training clip moved `pitch` semitones, formants kept (run in a worker process)."""
    from pipelines.audio import load_audio

    from .pitch import shift_pitch

    return shift_pitch(load_audio(path, SAMPLE_RATE), pitch).samples


# A VITS decoder fine-tuned on ~20 clips keeps its base voice's pitch: clones of LJ Speech's reader (median
# 227 Hz) from joe (87 Hz) all spoke at 86 Hz, whatever the preset, on a CPU or a GPU, and the reader's own
# clips moved down to 86 Hz (formants kept) score only 0.75 similarity to her (0.94 as they are): the
# wrong register caps a clone below the 0.80 target. So when the person's median pitch is this far from the
# base voice's, the clips are moved into the base voice's register for training (the decoder then only has
# to learn the timbre) and the clone's speech is moved back up by the same amount. Moving the reader's
# clips down and back up keeps 0.89 similarity and their 1.7 % WER (voices/pitch.py; bench/voice_score.py).


class Register(NamedTuple):
    """How high and how lively the person and the base voice speak, measured once before a clone trains."""
    shift: float                  # semitones from the base voice's median pitch up to the person's; 0: same register
    person_hz: float | None
    base_hz: float | None
    person_spread: float | None   # pitch spread (semitones around each clip's median): the melody
    base_spread: float | None

    @property
    def melody_gain(self) -> float:
        """How much farther than the base voice the person moves their pitch: what the clone's borrowed
        melody is scaled by (profiles.py), within MELODY_GAIN; 1 when either cannot be measured."""
        if not self.person_spread or not self.base_spread:
            return 1.0
        return round(float(np.clip(self.person_spread / self.base_spread, *MELODY_GAIN)), 2)


MELODY_GAIN = (0.5, 3.0)   # a borrowed melody is flattened or widened at most this much


def measure_register(person: list, base: VoiceProfile) -> Register:
    """The person's register and melody beside the base voice's (its speech of EVAL_SENTENCES); the shift
    is 0 when they speak in the same register or either cannot be measured."""
    from .pitch import SAME_REGISTER, pitch_summary, semitones
    from .vits.engine import VitsTTS

    person_hz, person_spread = pitch_summary(person)
    voice = VitsTTS(VitsTTS.Config(voice=str(base.folder), device="cpu"))
    base_hz, base_spread = pitch_summary([voice.synthesize(s).audio for s in EVAL_SENTENCES])
    gap = semitones(person_hz, base_hz) if person_hz and base_hz else 0.0
    return Register(round(gap, 1) if abs(gap) >= SAME_REGISTER else 0.0, person_hz, base_hz, person_spread,
                    base_spread)


def _default_scorer(dataset_dir: Path, references: list[str], asr: ASR | None, language: str) -> Scorer:
    from pipelines import registry
    from pipelines.audio import load_audio

    audios = [load_audio(dataset_dir / "wavs" / f, SAMPLE_RATE) for f in references[:24]]
    return HeldOutScorer.from_clips(audios, asr or registry.build("asr", "faster-whisper"), language)


def clone_voice(data: str | os.PathLike, options: CloneOptions, *, asr: ASR | None = None,
                progress: Progress = no_progress, scorer: Scorer | None = None) -> VoiceProfile:
    """Prepare the data, rebuild the posterior if needed, fine-tune with checkpoints while scoring the voice
    every `eval_every` steps (similarity to held-out clips, round-trip WER), keep the best checkpoint by the
    rule in `selection.py`, stop early on a plateau, and save the KEPT generator as the profile with its
    quality report. `scorer` replaces the resemblyzer + ASR scoring (tests use a scripted one)."""
    import torch

    name = options.name.strip()
    if not name or any(ch in name for ch in "/\\:") or name.startswith("."):
        raise UserInputError(f"'{options.name}' is not a usable voice name (no slashes, not empty)")
    if not options.consent.strip():
        raise UserInputError("record who gave consent for this voice (for example --consent "
                             "\"Jane Doe, recorded and agreed on 2026-11-23\")")
    if options.preset != AUTO_PRESET:
        preset_name(options.preset)   # a wrong name is an error before any work
    folder = user_voices_dir() / name
    checkpoint = folder / "training" / "checkpoint.pt"
    kept_path = folder / "training" / "kept.pth"
    if (folder / "voice.toml").is_file() and not options.resume:
        raise UserInputError(f"voice '{name}' already exists in {folder}; pick another name "
                             f"(or continue its training with --resume and a longer --preset)")
    if checkpoint.is_file() and not options.resume:
        raise UserInputError(f"an unfinished training of '{name}' is in {folder}; pass --resume to continue it")
    if options.resume and not checkpoint.is_file() and not (folder / "dataset" / "metadata.tsv").is_file():
        raise UserInputError(f"nothing to resume for '{name}' in {folder}")
    base = load_voice(options.base)
    device = torch_device(options.device)
    on_gpu = str(device).startswith("cuda")
    fresh = not any(p.is_file() for p in folder.rglob("*"))  # new, or only empty folders left by a failed run
    (folder / "training").mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    job = Job(folder / "training")  # state.json written atomically: a kill -9 leaves the last good one
    state = dict(job.state)
    chosen = ""
    if options.preset == AUTO_PRESET:   # said in the first message: a log file may not keep a second one so soon
        options = replace(options, preset=auto_preset(on_gpu, state.get("preset") if options.resume else None))
        chosen = f"preset {options.preset} " + ("(the one this training last ran)" if options.resume and
                                                state.get("preset") else "(a CUDA GPU)" if on_gpu else
                                                "(no CUDA GPU: the CPU's preset)") + "; "
    progress(0.0, chosen + "preparing the clips")
    preset = options.preset_values()
    chosen_preset = preset_name(options.preset)
    try:
        clips = prepare_dataset(data, folder / "dataset", asr, language=options.language,
                                progress=lambda f, m="": progress(0.15 * f, m))
        usable = usable_clips(folder / "dataset")
        if len(usable) < 3:
            reasons = "; ".join(f"{c.source or c.file}: {c.reason}" for c in clips if c.status != "ok")[:500]
            raise UserInputError(f"only {len(usable)} usable clips (at least 3 needed, about 20 recommended). "
                                 f"{reasons}", path=data)
    except Exception:
        if fresh:  # nothing worth keeping yet: leave no half-made voice folder behind
            shutil.rmtree(folder, ignore_errors=True)
        raise
    if "held_out" not in state:   # decided once: a resumed run never trains on what it is scored against
        train_files, held_out = split_held_out(usable)
        state["held_out"] = held_out
    held_out = [f for f in state["held_out"] if f in usable]
    train_files = [f for f in usable if f not in set(state["held_out"])]
    # decided once: a resumed run trains on the shift it started with (none if it started before shifts) and
    # keeps its melody gain; the person and the base voice are measured only when something needs it
    move = "pitch_shift" not in state and options.match_pitch and not checkpoint.is_file()
    borrow = "melody_gain" not in state and options.borrow_melody
    register = None
    if move or borrow:
        from pipelines.audio import load_audio

        progress(0.15, "measuring the person's pitch and melody and the base voice's")
        person = [load_audio(folder / "dataset" / "wavs" / f, SAMPLE_RATE) for f in train_files]
        register = measure_register(person, base)
    if "pitch_shift" not in state:
        state["pitch_shift"] = register.shift if move else 0.0
        if move:
            state.update(person_pitch_hz=register.person_hz and round(register.person_hz, 1),
                         base_pitch_hz=register.base_hz and round(register.base_hz, 1))
        if state["pitch_shift"]:
            shift = state["pitch_shift"]
            progress(0.15, f"the person speaks at {register.person_hz:.0f} Hz, {base.name} at "
                           f"{register.base_hz:.0f} Hz: training {abs(shift):.1f} semitones "
                           f"{'lower' if shift > 0 else 'higher'}, in {base.name}'s register, and speaking "
                           f"back at the person's pitch")
    if "melody_gain" not in state:
        state["melody_gain"] = register.melody_gain if borrow else 0.0
        if borrow and register.person_spread and register.base_spread:
            progress(0.15, f"the person moves their pitch {register.person_spread:.1f} semitones, {base.name} "
                           f"{register.base_spread:.1f}: the clone will speak with {base.name}'s melody "
                           f"x {state['melody_gain']:g} (--own-melody: its own)")
    if "wer_margin" not in state:   # decided once: a resumed run's kept step was chosen under it
        state["wer_margin"] = options.wer_margin if options.wer_margin is not None else WER_MARGIN * 100
    elif options.wer_margin is not None and options.wer_margin != state["wer_margin"]:
        raise UserInputError(f"the training of '{name}' keeps steps within {state['wer_margin']:g} points of the "
                             f"base voice's WER, and the steps it refused were not saved; to keep within "
                             f"{options.wer_margin:g}, clone again under another name")
    margin = state["wer_margin"] / 100
    if "scored_in_melody" not in state:   # decided once: a curve is scored one way from its first step to its last
        state["scored_in_melody"] = bool(state["melody_gain"]) and not state.get("curve")
    shift = state["pitch_shift"]
    if "noise_scale" not in state:   # decided once; a run begun before it was chosen was scored at Piper's
        state["noise_scale"] = PIPER_NOISE_SCALE if state.get("curve") else preset.noise_scale
    noise = state["noise_scale"]
    items = training_items(folder / "dataset", base, train_files, pitch=-shift,
                           progress=lambda f, m="": progress(0.15, m))
    model = load_voice_model(base, seed=options.seed)   # the posterior's start (when rebuilt), the discriminator
    if not base.weights_path and not checkpoint.is_file():
        state["posterior"] = rebuild_posterior(model, base, preset.posterior_steps, device,
                                               lambda f, m="": progress(0.15 + 0.15 * f, m), options.seed)
    base_items = None
    if preset.base_share > 0:   # the base voice's own speech, and the person's texts in its voice too
        texts = [c.text for c in read_metadata(folder / "dataset" / "metadata.tsv") if c.file in set(train_files)]
        base_items = base_voice_speech(model, base, BASE_VOICE_SENTENCES + texts, device, options.seed,
                                       lambda f, m="": progress(0.3, m))
    saved = _checkpoint_keys(checkpoint)
    if base_items or is_two_speaker(saved):
        model = two_speaker_model(model, base.piper_config["num_symbols"], base.architecture, seed=options.seed,
                                  every_up_layer=preset.speaker_every_up_layer or has_up_layer_conditioning(saved))
    trainer = Trainer(model, items, preset, device, options.seed, amp=preset.amp if on_gpu else None,
                      loss_every=preset.loss_every if on_gpu else 1, prefetch=preset.prefetch and on_gpu,
                      base_items=base_items)

    # training is 30-95 % of the progress bar: the export and the report after it take 1-2 min, a few % of
    # the time, and the ETA is read from the bar
    def at_step(step: int) -> float:
        return 0.3 + 0.65 * min(step / preset.steps, 1.0)

    if checkpoint.is_file():
        trainer.load(checkpoint)
        progress(at_step(trainer.step_no), f"resumed at step {trainer.step_no} of {preset.steps}")
    # the curve of a resumed run continues; evaluations past the checkpoint's step are redone
    curve = [Evaluation(**e) for e in state.get("curve", []) if e["step"] <= trainer.step_no]
    if state.get("preset") not in (None, chosen_preset) and trainer.step_no:
        state["count_from"] = trainer.step_no   # a longer preset gets a fresh patience window
        state.pop("stopped", None)
    state["preset"] = chosen_preset
    state.pop("out_of_time", None)   # a time budget stops one run, not the training
    count_from = state.get("count_from", 0)
    if "stopped" in state and curve and not choose(curve, state.get("base_wer", curve[0].wer), margin=margin,
                                                    patience=preset.patience, count_from=count_from).stop:
        state.pop("stopped")   # stopped by an older, stricter rule: the curve says training should go on
    if scorer is None:
        scorer = _default_scorer(folder / "dataset", held_out or train_files, asr, base.language)
    sentences = options.eval_sentences
    reference = f"{len(held_out)} held-out clips" if held_out else \
        f"all {len(train_files)} training clips (too few clips to hold any out)"
    live = ""
    # the base voice's melody, which the saved voice speaks with whichever step is kept (step 0 too): every
    # step is scored as it would be heard, so the WER rule weighs what training does to the words, not the
    # melody's own cost (which the report shows beside the base voice as it speaks itself)
    guide = None
    if state["scored_in_melody"]:
        from .synthesis import MelodyGuide
        from .vits.engine import TorchVits

        base_model = load_voice_model(base)
        guide = MelodyGuide(TorchVits(base_model, base_model.config.audio.sample_rate, device),
                            state["melody_gain"], base.noise_scale)

    scoring = {"seconds": 0.0, "times": 0}   # the time left is training's plus the evaluations still to come

    def scored_once() -> None:
        scoring["times"] += 1   # kept with the run: a resumed one has timed no evaluation of its own yet
        state["seconds_per_evaluation"] = round(scoring["seconds"] / scoring["times"], 2)
    speaker = PERSON_SPEAKER if trainer.two_speaker else None
    beside = ScoringBeside(trainer) if preset.score_beside else None

    def score(model) -> tuple[float, float]:
        return evaluate_model(model, base, device, scorer, sentences, speaker=speaker, seeds=options.eval_seeds,
                              pitch=shift, noise_scale=noise, melody=guide)

    def waited(work: Callable):
        """`work()`, its time counted as the evaluations' (training's pace is measured without it)."""
        began = time.monotonic()
        try:
            return work()
        finally:
            scoring["seconds"] += time.monotonic() - began

    def evaluate() -> bool:
        """Score the model now (or, beside training, start scoring it); True when training should stop."""
        if finish_scoring():   # one at a time: the rule reads the curve in order
            return True
        if not curve and trainer.step_no > 0:   # an older run without a curve: score its base voice first
            sim, wer = waited(lambda: evaluate_model(load_voice_model(base).to(device), base, device, scorer,
                                                     sentences, seeds=options.eval_seeds, pitch=shift,
                                                     noise_scale=noise))
            curve.append(Evaluation(0, round(sim, 4), round(wer, 4)))
            state["base_wer"] = round(wer, 4)
        if beside is None:
            def in_line():
                with trainer.averaged() as scored:   # what is scored is what is kept
                    return judge(trainer.step_no, *score(scored), trainer.generator_state)
            decision = waited(in_line)
            scored_once()
            return settle(decision)
        beside.start(score)
        return False

    def collect() -> bool:
        """Take in the evaluation scored beside training (waiting for it if need be); True: stop."""
        step, sim, wer = waited(beside.collect)
        scored_once()
        return settle(judge(step, sim, wer, beside.generator_state))

    def finish_scoring() -> bool:
        return collect() if beside is not None and beside.pending else False

    def judge(step: int, sim: float, wer: float, weights: Callable[[], dict]):
        """Add an evaluation to the curve, apply the rule, and save the weights when the rule keeps them."""
        curve.append(Evaluation(step, round(sim, 4), round(wer, 4)))
        state.setdefault("base_wer", curve[0].wer)
        decision = choose(curve, state["base_wer"], margin=margin, patience=preset.patience, count_from=count_from)
        if decision.kept.step == step and state.get("kept", {}).get("step") != step:
            tmp = kept_path.with_suffix(".partial")
            torch.save(weights(), tmp)
            os.replace(tmp, kept_path)
        return decision

    def settle(decision) -> bool:
        """Record the decision and a checkpoint, and say the live figures; True when training should stop."""
        nonlocal live
        scored = curve[-1]
        state.update(curve=[vars(e) for e in curve], kept=vars(decision.kept), reason=decision.reason,
                     reference=reference)
        if decision.stop:
            state["stopped"] = trainer.step_no
        trainer.save(checkpoint)
        job.save(**state)
        live = (f" · similarity {scored.similarity:.2f} WER {scored.wer:.1%} (kept: step {decision.kept.step}, "
                f"{decision.kept.similarity:.2f})")
        progress(at_step(trainer.step_no),
                 f"scored step {scored.step}: similarity {scored.similarity:.2f} to {reference}, round-trip WER "
                 f"{scored.wer:.1%}; kept step {decision.kept.step}")
        return decision.stop

    first_step, t0 = trainer.step_no, time.monotonic()
    losses: dict | None = None
    try:
        if not curve:
            progress(0.3, f"scoring the base voice on {len(sentences)} sentences against {reference}")
            evaluate()
        stopped = "stopped" in state
        while trainer.step_no < preset.steps and not stopped:
            fresh = trainer.step()   # losses come every `loss_every` steps (every step on a CPU)
            done = trainer.step_no
            rate, eta = time_left(time.monotonic() - t0, scoring["seconds"], scoring["times"], done - first_step,
                                  done, preset.steps, preset.eval_every, state.get("seconds_per_evaluation", 0.0))
            if fresh:
                losses = fresh
                disc = f" disc {losses['disc']:.2f}" if "disc" in losses else ""   # none without one
                progress(at_step(done),
                         f"step {done}/{preset.steps}: mel {losses['mel']:.2f} kl {losses['kl']:.2f} "
                         f"gen {losses['gen']:.2f}{disc}{live} · {rate:.1f} s/step, "
                         f"~{eta / 60:.0f} min of training and scoring left")
                if done % trainer.loss_every == 0:
                    state.setdefault("losses", []).append({"step": done, **{k: round(v, 4) for k, v in losses.items()}})
            if beside is not None and beside.ready:
                stopped = collect()
            if stopped:
                pass
            elif done % preset.eval_every == 0 or done == preset.steps:
                stopped = evaluate()
            elif done % preset.checkpoint_every == 0:
                trainer.save(checkpoint)
                job.save(**state)
            if not stopped and options.max_minutes is not None and time.monotonic() - t0 > options.max_minutes * 60:
                finish_scoring()
                if curve[-1].step != done:   # the last steps count too: score them before stopping
                    evaluate()
                    finish_scoring()
                stopped = True
                state["out_of_time"] = done
                progress(0.95, f"stopping at step {done}: the {options.max_minutes:g}-minute budget is used up "
                              f"(continue with --resume)")
        finish_scoring()
    except KeyboardInterrupt:
        trainer.save(checkpoint)
        job.save(**state)
        raise UserInputError(f"training of '{name}' interrupted at step {trainer.step_no}; "
                             f"continue with: dh clone {data} --name {name} --resume") from None
    finally:
        trainer.close()
    tmp = folder / "model.pth.partial"
    if kept_path.is_file():   # the kept checkpoint, not the last step's
        shutil.copyfile(kept_path, tmp)
    else:
        with trainer.averaged():
            torch.save(trainer.generator_state(), tmp)
    os.replace(tmp, folder / "model.pth")
    minutes = (time.monotonic() - started) / 60
    profile = _write_profile(folder, name, base, options, preset, minutes, state, device, trainer.step_no)
    progress(0.95, "exporting the voice to ONNX (about twice as fast on a CPU)")
    try:
        from .vits.export import export_voice

        export_voice(profile)
    except Exception as exc:  # the PyTorch voice works without it; the ONNX engine retries on first use
        log.warning("voice '%s': ONNX export failed (%s); the 'vits' engine still runs it", name, exc)
    progress(0.96, "measuring quality")
    from .report import quality_report

    quality = quality_report(profile, base, folder / "dataset", sentences, asr,
                             references=held_out, training=state, seeds=options.eval_seeds)
    profile = _write_profile(folder, name, base, options, preset, minutes, state, device, trainer.step_no, quality)
    progress(1.0, f"voice '{name}' ready in {minutes:.1f} min: similarity {quality['clone_similarity']:.2f} "
                  f"(base {quality['base_similarity']:.2f}), round-trip WER {quality['clone_wer']:.1%}")
    return profile


def generator_state(model, two_speaker: bool) -> dict:
    """What a voice needs to speak: everything but the discriminator, copied to the CPU; a two-speaker
    model gives the person's voice folded into a single-speaker one (same layout as the base voice)."""
    state = fold_speaker(model) if two_speaker else model.state_dict()
    return {k: v.detach().cpu().clone() for k, v in state.items() if not k.startswith("disc.")}


class ScoringBeside:
    """Scores a copy of the weights in a helper thread while training goes on. On an H200 an evaluation
    (speaking 24 sentences, their melody and embeddings; the bench ran Whisper elsewhere) took 12 s, as long
    as 60 steps, and training stood still for it: 9 of them were half of the 3.5 minutes to the kept clone.
    One evaluation at a time: the next waits for this one's result (the rule reads the curve in order).
    The copy is made of the weights that are scored (the running average, when there is one), so what is
    kept is exactly what was scored; noise is drawn under engine.TORCH_RNG, so the figures are those of
    scoring in line, and training draws the numbers it would have drawn alone."""

    def __init__(self, trainer: "Trainer"):
        self.trainer = trainer
        self.model = None        # the copy, made at the first evaluation and refilled at each
        self.step: int | None = None
        self._thread: threading.Thread | None = None
        self._result: tuple[float, float] | None = None
        self._error: BaseException | None = None

    def start(self, score: Callable[[object], tuple[float, float]]) -> None:
        """Copy the weights of the step training is at and score them with `score(model)` in a helper thread."""
        with self.trainer.averaged() as live:
            if self.model is None:
                self.model = _copy_model(live)
            else:
                self.model.load_state_dict({k: v for k, v in live.state_dict().items() if not k.startswith("disc.")})
        self.step, self._result, self._error = self.trainer.step_no, None, None
        self._thread = threading.Thread(target=self._score, args=(score,), name="clone-scoring", daemon=True)
        self._thread.start()

    def _score(self, score) -> None:
        try:
            self._result = score(self.model)
        except BaseException as exc:   # raised again where the result is collected
            self._error = exc

    @property
    def pending(self) -> bool:
        return self._thread is not None

    @property
    def ready(self) -> bool:
        return self._thread is not None and not self._thread.is_alive()

    def collect(self) -> tuple[int, float, float]:
        """(step, similarity, WER) of the evaluation started last, waiting for it if it is still running."""
        self._thread.join()
        self._thread = None
        if self._error is not None:
            raise self._error
        return (self.step, *self._result)

    def generator_state(self) -> dict:
        """The scored copy's weights as a voice saves them (Trainer.generator_state)."""
        return generator_state(self.model, self.trainer.two_speaker)


def _copy_model(model):
    """A deep copy of a Coqui Vits for scoring: without its discriminator (speaking never runs it) and
    without the outputs it caches for the loss (tensors in the training graph, which deepcopy refuses)."""
    import copy

    kept_aside = {"model_outputs_cache": getattr(model, "model_outputs_cache", None), "disc": model.disc}
    model.model_outputs_cache, model.disc = None, None
    try:
        return copy.deepcopy(model)
    finally:
        model.model_outputs_cache, model.disc = kept_aside["model_outputs_cache"], kept_aside["disc"]


def time_left(elapsed: float, scoring_seconds: float, evaluations: int, steps_run: int, step: int, steps: int,
              eval_every: int, earlier_per_evaluation: float = 0.0) -> tuple[float, float]:
    """(seconds per training step, seconds left) of a run: its steps' own pace, then the steps and the
    evaluations still to come at what each evaluation has taken (before this run has timed one, what each
    took before it was resumed: a draft resumed into `good` said "~8 min left" for 16). Counting the base
    voice's scoring as part of the first step told a 13-minute draft "~154 min left"."""
    rate = max(elapsed - scoring_seconds, 0.0) / max(steps_run, 1)
    # the multiples of eval_every in (step, steps], and the last step when it is not one of them
    to_come = steps // eval_every - step // eval_every + (step < steps and steps % eval_every != 0)
    per_evaluation = scoring_seconds / evaluations if evaluations else earlier_per_evaluation
    return rate, rate * (steps - step) + to_come * per_evaluation


def _findable(base: VoiceProfile) -> str:
    """How the saved clone names its base so that it can be loaded again (to speak with its melody): by
    name when that finds this very voice, else by its folder (a base given as a path)."""
    try:
        if load_voice(base.name).folder.resolve() == base.folder.resolve():
            return base.name
    except ConfigError:   # no voice of that name
        pass
    return str(base.folder.resolve())


def _write_profile(folder: Path, name: str, base: VoiceProfile, options: CloneOptions, preset: Preset,
                   minutes: float, state: dict, device: str, trained: int,
                   quality: dict | None = None) -> VoiceProfile:
    import tomli_w

    data = {
        "name": name,
        "description": f"clone fine-tuned from {base.name} on {folder / 'dataset'}",
        "language": base.language, "espeak_voice": base.espeak_voice, "base": _findable(base),
        "weights": "model.pth", "architecture": dict(base.architecture),
        "pitch_shift": state.get("pitch_shift", 0.0), "melody_gain": state.get("melody_gain", 0.0),
        "sample": "samples/clone_1.wav" if quality else "",
        "consent": {"given_by": options.consent.strip(), "recorded": time.strftime("%Y-%m-%d")},
        "licence": {"note": f"Fine-tuned from {base.name} ({base.licence.get('weights', 'see its profile')}). "
                            "The voice belongs to the person who consented; do not use it to deceive."},
        "training": {"preset": preset_name(options.preset), "steps": preset.steps, "trained_steps": trained,
                     "batch_size": preset.batch_size, "base_share": preset.base_share,
                     "minutes": round(minutes, 1), "device": device,
                     "wer_margin": state.get("wer_margin", WER_MARGIN * 100),
                     **({"kept_step": kept["step"], "kept_similarity": kept["similarity"], "kept_wer": kept["wer"],
                         "kept_because": state.get("reason", "")} if (kept := state.get("kept")) else {}),
                     **({"stopped_early_at": state["stopped"]} if "stopped" in state else {}),
                     **({"stopped_at_time_budget": state["out_of_time"]} if "out_of_time" in state else {}),
                     "held_out_clips": len(state.get("held_out", [])),
                     **{f"posterior_{k}": v for k, v in state.get("posterior", {}).items()}},
        "quality": quality or {},
    }
    tmp = folder / "voice.toml.partial"
    tmp.write_bytes(tomli_w.dumps(data).encode("utf-8"))
    os.replace(tmp, folder / "voice.toml")
    config = dict(base.piper_config)   # the base's phonemes and audio; the clone's own inference settings
    config["inference"] = {**config.get("inference", {}), "noise_scale": state.get("noise_scale", PIPER_NOISE_SCALE)}
    (folder / "model.onnx.json").write_text(json.dumps(config), encoding="utf-8")
    return read_profile(folder)
