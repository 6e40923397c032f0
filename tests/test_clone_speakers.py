"""Training beside the base voice's own speech (VITS-fast-fine-tuning's auxiliary data): a speaker embedding
added to a single-speaker VITS starts silent, trains both voices, and folds the person's voice back into a
plain single-speaker VITS that speaks exactly as the two-speaker model did. Tiny random models, CPU."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from tests.fakes import FakeASR
from tests.test_clone import TINY, clips, tiny_base, voices_dir  # noqa: F401 (fixtures)
from tests.test_clone_quality import ScriptedScorer, _tiny_trainer

IDS = [1, 20, 30, 40, 25, 35, 2]
ALL = {"x_lengths": None, "d_vectors": None, "language_ids": None, "durations": None}


def _speak(model, speaker=None):
    model.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        sid = None if speaker is None else torch.tensor([speaker])
        return model.inference(torch.tensor([IDS]), aux_input={**ALL, "speaker_ids": sid})["model_outputs"]


@pytest.mark.parametrize("every_up_layer", [False, True])
def test_a_second_speaker_starts_silent_and_folds_back_exactly(every_up_layer):
    from voices.vits.port import build_vits
    from voices.vits.speakers import fold_speaker, is_two_speaker, two_speaker_model

    torch.manual_seed(0)
    single = build_vits(256, **TINY)
    two = two_speaker_model(single, 256, TINY, every_up_layer=every_up_layer)
    assert any(".conds." in k for k in two.state_dict()) == every_up_layer
    assert is_two_speaker(two.state_dict()) and not is_two_speaker(single.state_dict())
    before = _speak(single)
    assert torch.equal(_speak(two, 0), before) and torch.equal(_speak(two, 1), before)   # nothing changed yet
    with torch.no_grad():   # as if trained: the two speakers now differ
        for name, p in two.named_parameters():
            if "cond" in name and not name.startswith("disc."):
                p.add_(torch.randn_like(p) * 0.05)
    person, base = _speak(two, 1), _speak(two, 0)
    n = min(person.shape[-1], base.shape[-1])
    assert not torch.allclose(person[..., :n], base[..., :n], atol=1e-3)
    folded = build_vits(256, **TINY)
    state = fold_speaker(two, 1)
    assert set(state) == set(single.state_dict())   # the layout of any single-speaker voice
    folded.load_state_dict(state)
    assert torch.allclose(_speak(folded), person, atol=1e-5)


def _two_speaker_trainer(clips, base_items, **changes):
    from voices.finetune import Trainer
    from voices.vits.speakers import two_speaker_model

    plain = _tiny_trainer(clips, {"batch_size": 4, "base_share": 0.5, **changes})
    items, preset = plain.items, plain.preset
    model = two_speaker_model(plain.model, 256, TINY, every_up_layer=preset.speaker_every_up_layer)
    plain.close()
    return Trainer(model, items, preset, "cpu", 0, base_items=base_items)


@pytest.mark.slow
def test_training_mixes_the_base_voices_speech_and_saves_the_persons_voice(clips, tmp_path):
    from voices.vits.port import build_vits

    single = _tiny_trainer(clips)
    base_items = [(ids, wave * 0.5) for ids, wave in single.items]   # "the base voice": the same texts, quieter
    with pytest.raises(ValueError, match="two-speaker"):
        _tiny_trainer(clips, {"base_share": 0.5}, base_items=base_items)
    single.step()
    single.save(tmp_path / "single.pt")   # a one-speaker run (a CPU draft, say), continued with both speakers
    single_state = single.generator_state()
    single.close()

    trainer = _two_speaker_trainer(clips, base_items)
    assert trainer.batch()[0]["speaker_ids"].tolist() == [1, 1, 0, 0]   # half of each batch is the base voice
    trainer.load(tmp_path / "single.pt")
    assert trainer.step_no == 1
    resumed = build_vits(256, **TINY)
    resumed.load_state_dict(single_state, strict=False)
    assert torch.equal(_speak(trainer.model, 1), _speak(resumed)) and torch.equal(_speak(trainer.model, 0),
                                                                                  _speak(resumed))
    cond = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if "cond_layer" in n}
    for _ in range(2):
        losses = trainer.step()
    assert all(np.isfinite(list(losses.values())))
    assert any(not torch.equal(cond[n], p) for n, p in trainer.model.named_parameters() if n in cond)  # learning
    saved = build_vits(256, **TINY)
    missing, unexpected = saved.load_state_dict(trainer.generator_state(), strict=False)
    assert not unexpected and all(k.startswith("disc.") for k in missing)
    assert torch.allclose(_speak(saved), _speak(trainer.model, 1), atol=1e-5)   # the person, not the base voice
    trainer.save(tmp_path / "two.pt")
    again = _two_speaker_trainer(clips, base_items)
    again.load(tmp_path / "two.pt")
    assert torch.equal(_speak(again.model, 1), _speak(trainer.model, 1))
    trainer.close()
    again.close()


def test_the_speaker_in_every_decoder_layer_trains_and_saves_as_a_plain_voice(clips, tmp_path):
    from voices.vits.port import build_vits

    single = _tiny_trainer(clips)
    base_items = [(ids, wave * 0.5) for ids, wave in single.items]
    single.close()
    trainer = _two_speaker_trainer(clips, base_items, speaker_every_up_layer=True)
    conds = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if ".conds." in n}
    assert conds and all(not p.any() for n, p in conds.items() if not n.endswith("weight"))   # silent at first
    trainer.step()
    assert any(not torch.equal(conds[n], p) for n, p in trainer.model.named_parameters() if n in conds)
    saved = build_vits(256, **TINY)
    saved.load_state_dict(trainer.generator_state(), strict=False)   # folded: Piper's single-speaker layout
    assert torch.allclose(_speak(saved), _speak(trainer.model, 1), atol=1e-5)
    trainer.save(tmp_path / "up.pt")
    again = _two_speaker_trainer(clips, base_items, speaker_every_up_layer=True)
    again.load(tmp_path / "up.pt")
    assert torch.equal(_speak(again.model, 1), _speak(trainer.model, 1))
    trainer.close()
    again.close()


@pytest.mark.slow
def test_a_clone_trained_beside_the_base_voice_speaks_what_its_kept_step_spoke(clips, voices_dir, tiny_base,
                                                                               monkeypatch):
    from pipelines import registry
    from voices import finetune
    from voices.finetune import CloneOptions, clone_voice

    monkeypatch.setattr(finetune, "BASE_VOICE_SENTENCES", ["The birch canoe slid on the smooth planks."])
    options = CloneOptions(name="b", consent="LJ Speech reader (public domain)", base=str(tiny_base),
                           preset="clear", steps=3, batch_size=4, eval_every=1, patience=3,
                           eval_sentences=["Hello there."], eval_seeds=(0,))
    scorer = ScriptedScorer([(0.50, 0.10), (0.55, 0.10), (0.60, 0.10), (0.52, 0.10)])
    messages = []
    profile = clone_voice(clips, options, asr=FakeASR(), scorer=scorer, progress=lambda f, m="": messages.append(m))
    assert any("the base voice speaks" in m for m in messages)
    assert profile.training["kept_step"] == 2 and profile.training["base_share"] == 0.5
    speech = registry.build("tts", "vits", voice=str(profile.folder)).synthesize("Hello there.")
    assert np.allclose(speech.audio.samples, scorer.audio[2], atol=1e-4)   # folded: the person's voice at step 2


@pytest.mark.slow
def test_the_base_voices_speech_can_anchor_only_the_prior(clips):
    """base_losses="prior": the base voice's clips train the flow and posterior through the KL term alone;
    the decoder (most of the timbre) learns from the person's clips only and is not run for the others."""
    single = _tiny_trainer(clips)
    base_items = [(ids, wave * 0.5) for ids, wave in single.items]
    single.close()
    trainer = _two_speaker_trainer(clips, base_items, base_losses="prior")
    person, base = trainer.batch()
    assert person["speaker_ids"].tolist() == [1, 1] and base["speaker_ids"].tolist() == [0, 0]
    decoder = trainer.model.waveform_decoder
    trainer.model.zero_grad(set_to_none=True)
    kl = trainer._prior_loss(base)
    kl.backward()
    assert trainer.model.waveform_decoder is decoder and torch.isfinite(kl) and kl > 0
    grads = {n: p.grad for n, p in trainer.model.named_parameters()}
    assert all(g is None for n, g in grads.items() if n.startswith("waveform_decoder."))
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith("flow."))
    assert any(g is not None and g.abs().sum() > 0 for n, g in grads.items() if n.startswith("posterior_encoder."))
    trainer.model.zero_grad(set_to_none=True)
    losses = trainer.step()
    assert all(np.isfinite(list(losses.values())))
    with pytest.raises(ValueError, match="base_losses"):
        _two_speaker_trainer(clips, base_items, base_losses="decoder")
    trainer.close()


def test_the_speaker_layers_can_learn_faster(clips):
    single = _tiny_trainer(clips)
    base_items = single.items
    single.close()
    trainer = _two_speaker_trainer(clips, base_items, speaker_lr_scale=10.0, flow_lr_scale=0.5)
    lr = {id(p): g["lr"] for g in trainer.opt_g.param_groups for p in g["params"]}
    named = dict(trainer.model.named_parameters())
    base_lr = trainer.preset.lr
    assert lr[id(named["emb_g.weight"])] == pytest.approx(10 * base_lr)
    assert all(lr[id(p)] == pytest.approx(10 * base_lr) for n, p in named.items() if "cond_layer." in n
               and p.requires_grad and not n.startswith("disc."))
    assert all(lr[id(p)] == pytest.approx(0.5 * base_lr) for n, p in named.items() if n.startswith("flow.")
               and "cond_layer." not in n)
    assert lr[id(named["waveform_decoder.conv_pre.weight"])] == pytest.approx(base_lr)
    trainer.close()


@pytest.mark.slow
def test_the_same_clips_and_seed_train_the_same_clone_twice_in_one_process(clips, voices_dir, tiny_base,
                                                                          monkeypatch):
    """The speaker embedding and the discriminator start from random weights: drawn from whatever torch's
    generator held when the model was built (a second clone in the web app, or a cached base voice's speech
    that left the generator where it was), two clones of the same clips and seed trained apart."""
    from tests.test_clone_quality import EchoScorer
    from voices import finetune
    from voices.finetune import CloneOptions, clone_voice

    monkeypatch.setattr(finetune, "BASE_VOICE_SENTENCES", ["The birch canoe slid on the smooth planks."])

    def clone(name):
        torch.rand(7)   # what anything else in the process may have drawn before
        options = CloneOptions(name=name, consent="LJ Speech reader (public domain)", base=str(tiny_base),
                               preset="clear", steps=2, batch_size=4, eval_every=1, patience=3,
                               eval_sentences=["Hello there."], eval_seeds=(0,))
        profile = clone_voice(clips, options, asr=FakeASR(), scorer=EchoScorer())
        state = torch.load(profile.folder / "training" / "checkpoint.pt", weights_only=False)["model"]
        return json.loads((profile.folder / "training" / "state.json").read_text())["curve"], state

    (first_curve, first), (second_curve, second) = clone("one"), clone("two")
    assert first_curve == second_curve
    assert first.keys() == second.keys() and any(k.startswith("emb_g.") for k in first)
    assert [k for k in first if not torch.equal(first[k], second[k])] == []
