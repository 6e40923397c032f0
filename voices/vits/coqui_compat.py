"""Make Coqui TTS importable beside the CPU torch build.

coqui-tts imports `torchaudio` and checks that `torchcodec` exists, but the VITS model only calls
`torchaudio.load` (its training dataset) and `transforms.Resample` (options we do not use). PyPI has no
torchaudio/torchcodec that loads with torch 2.13 on CPU, so when they are absent we register small
stand-ins in `sys.modules` (nothing is written to disk, a real install always wins).
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
import types


def _module(name: str) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, loader=None)
    module.__version__ = "0.0-digital-human-shim"
    return module


def _load(path, *args, **kwargs):
    import soundfile as sf
    import torch

    data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return torch.from_numpy(data.T.copy()), sr


def _save(path, tensor, sample_rate, *args, **kwargs):
    import soundfile as sf

    sf.write(str(path), tensor.detach().cpu().numpy().T, sample_rate)


class _Resample:
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("torchaudio is not installed; digital-human resamples with PyAV instead")


def install() -> None:
    if "torchaudio" not in sys.modules and importlib.util.find_spec("torchaudio") is None:
        ta = _module("torchaudio")
        ta.load, ta.save = _load, _save
        ta.transforms = _module("torchaudio.transforms")
        ta.transforms.Resample = _Resample
        ta.functional = _module("torchaudio.functional")
        sys.modules["torchaudio"] = ta
        sys.modules["torchaudio.transforms"] = ta.transforms
        sys.modules["torchaudio.functional"] = ta.functional
    if "torchcodec" not in sys.modules and importlib.util.find_spec("torchcodec") is None:
        sys.modules["torchcodec"] = _module("torchcodec")
