"""Cloned voices exported to ONNX: the fast engine speaks them exactly as PyTorch does, with the same
timings; a stale or wrong export is never used."""
import json
import os

import numpy as np
import pytest

from pipelines import registry
from pipelines.errors import ModelFilesError

from .test_clone import TINY

QUIET = dict(noise_scale=0.0, noise_w=0.0)   # no sampling noise: both engines must agree sample for sample


def save_voice(folder, model, architecture, name):
    import tomli_w
    import torch

    from voices.profiles import load_voice

    folder.mkdir(parents=True)
    torch.save({k: v for k, v in model.state_dict().items() if not k.startswith("disc.")}, folder / "model.pth")
    (folder / "model.onnx.json").write_text(json.dumps(load_voice("joe").piper_config))
    (folder / "voice.toml").write_text(tomli_w.dumps({"name": name, "weights": "model.pth",
                                                      "architecture": architecture, "description": "test"}))
    return folder


@pytest.fixture
def tiny_clone(tmp_path):
    """A random tiny VITS saved as a fine-tuned voice (weights, no ONNX yet)."""
    import torch

    from voices.vits.port import build_vits

    torch.manual_seed(0)
    return save_voice(tmp_path / "tiny", build_vits(256, **TINY), TINY, "tiny")


def test_a_clone_is_exported_on_first_use_and_speaks_like_pytorch(tiny_clone):
    from voices.profiles import read_profile

    assert read_profile(tiny_clone).onnx_path is None
    text = "Hello there. This is a small test, with two sentences."
    fast = registry.build("tts", "vits-onnx", voice=str(tiny_clone), **QUIET).synthesize(text)
    assert (tiny_clone / "model.onnx").is_file() and not list(tiny_clone.glob("*.partial"))
    slow = registry.build("tts", "vits", voice=str(tiny_clone), device="cpu", **QUIET).synthesize(text)
    assert fast.audio.samples.shape == slow.audio.samples.shape
    peak = np.abs(slow.audio.samples).max()
    assert np.abs(fast.audio.samples - slow.audio.samples).max() < 1e-3 * peak
    assert [w.label for w in fast.words] == [w.label for w in slow.words]
    assert [(w.start, w.end) for w in fast.words] == [(w.start, w.end) for w in slow.words]
    # noise on: seeded, so the same text gives the same audio on every call
    noisy = registry.build("tts", "vits-onnx", voice=str(tiny_clone))
    assert np.array_equal(noisy.synthesize("Again.").audio.samples, noisy.synthesize("Again.").audio.samples)


def test_retrained_weights_make_the_old_export_stale(tiny_clone):
    from voices.profiles import read_profile
    from voices.vits.export import ensure_onnx

    first = ensure_onnx(read_profile(tiny_clone))
    assert first == tiny_clone / "model.onnx"
    earlier = (tiny_clone / "model.pth").stat().st_mtime - 60
    os.utime(first, (earlier, earlier))  # the clone was trained further after its export
    assert read_profile(tiny_clone).onnx_path is None
    assert ensure_onnx(read_profile(tiny_clone)) == first and first.stat().st_mtime > earlier + 30
    assert read_profile(tiny_clone).onnx_path == first


def test_an_export_that_does_not_match_pytorch_is_not_written(tiny_clone, monkeypatch):
    from voices.profiles import read_profile
    from voices.vits import export

    monkeypatch.setattr(export, "MAX_SAMPLE_DIFFERENCE", -1.0)  # nothing can pass
    with pytest.raises(ModelFilesError, match="does not match the PyTorch voice"):
        export.export_voice(read_profile(tiny_clone))
    assert not any(tiny_clone.glob("model.onnx*.partial")) and not (tiny_clone / "model.onnx").exists()


@pytest.mark.slow
def test_a_full_size_voice_exported_is_understood(tmp_path):
    """joe's PyTorch weights saved as a 'clone' and exported: the ONNX voice is heard right by Whisper."""
    from pipelines.text import word_error_rate
    from voices.profiles import load_voice
    from voices.vits.port import load_voice_model

    folder = save_voice(tmp_path / "joe-copy", load_voice_model(load_voice("joe")), {}, "joe-copy")
    sentence = "The museum opens early and closes late on Fridays."
    speech = registry.build("tts", "vits-onnx", voice=str(folder)).synthesize(sentence)
    heard = registry.build("asr", "faster-whisper").transcribe(speech.audio, language="en").text
    assert word_error_rate(sentence, heard) <= 0.1, heard
    assert speech.words[-1].label.startswith("Fridays") and speech.words[-1].end <= speech.audio.duration + 0.01
