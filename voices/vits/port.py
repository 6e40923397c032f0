"""Piper's ONNX VITS generator -> Coqui TTS `Vits` (PyTorch), tensor by tensor.

Piper exports the original VITS code (names enc_p, dec, flow, dp) with weight norm folded in. Coqui's
Vits uses other names, weight-norm parametrizations, a 4-step flow list (Piper interleaves Flip layers:
0,2,4,6 -> 0..3) and a duration flow without the reverse-unused flow 1 (3,5,7 -> 2,3,4). Anonymous
`onnx::Conv_*` weights are named by the Conv node that consumes them; the first duration flow's scale is
stored as the constant exp(-logs). Missing from the export (training only): posterior encoder,
duration-predictor post flows, discriminator; they keep Coqui's initialisation.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

# Architecture of Piper "medium" voices; everything else is Coqui's VitsArgs default.
MEDIUM_DECODER = dict(
    resblock_type_decoder="2",
    resblock_kernel_sizes_decoder=[3, 5, 7],
    resblock_dilation_sizes_decoder=[[1, 2], [2, 6], [3, 12]],
    upsample_rates_decoder=[8, 8, 4],
    upsample_initial_channel_decoder=256,
    upsample_kernel_sizes_decoder=[16, 16, 8],
)
SAMPLE_RATE, HOP, FFT, MELS = 22050, 256, 1024, 80


def onnx_tensors(path: str | Path) -> dict[str, np.ndarray]:
    """Initializers of a Piper ONNX under their PyTorch names (anonymous ones named via their node)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    raw = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    named = {k: v for k, v in raw.items() if re.match(r"^(enc_p|dec|flow|dp)\.", k)}
    for node in model.graph.node:
        for i, name in enumerate(node.input):
            if name not in raw:
                continue
            if name.startswith("onnx::Conv") and node.op_type == "Conv" and i == 1:
                named[node.name.strip("/").rsplit("/", 1)[0].replace("/", ".") + ".weight"] = raw[name]
            elif name == "sid" and node.name == "/enc_p/emb/Gather":
                named["enc_p.emb.weight"] = raw[name]
            elif name == "/dp/flows.0/Exp_output_0":
                named["dp.flows.0.logs"] = -np.log(raw[name])
    return named


_FLOW = {"0": "0", "2": "1", "4": "2", "6": "3"}
_DP_FLOW = {"0": "0", "3": "2", "5": "3", "7": "4"}


def coqui_name(name: str) -> str | None:
    if name.startswith("enc_p."):
        return "text_encoder." + name[6:]
    if name.startswith("dec."):
        return "waveform_decoder." + name[4:]
    if m := re.match(r"flow\.flows\.(\d+)\.(.*)", name):
        return f"flow.flows.{_FLOW[m.group(1)]}.{m.group(2)}"
    if m := re.match(r"dp\.flows\.(\d+)\.(.*)", name):
        if m.group(1) not in _DP_FLOW:
            return None
        rest = {"m": "translation", "logs": "log_scale"}.get(m.group(2), m.group(2))
        return f"duration_predictor.flows.{_DP_FLOW[m.group(1)]}.{rest}"
    if name.startswith("dp."):
        return "duration_predictor." + name[3:]
    return None


def build_vits(num_symbols: int = 256, *, speakers: int = 1, seed: int | None = None, **overrides):
    """A Coqui `Vits` with Piper medium's architecture; the vocabulary is Piper's phoneme ids as they are.
    `speakers=2` adds Coqui's speaker embedding (see speakers.py: only used while a clone trains). `seed`:
    its random weights come from it (torch's generator forked, so it does not move), not from wherever the
    generator stood: the parts a clone does not load from its base voice (the posterior encoder before its
    rebuild, the discriminator, the speaker embedding) trained apart in a second clone of one process."""
    from .coqui_compat import install

    install()
    import logging

    import torch
    logging.getLogger("TTS.tts.utils.languages").setLevel(logging.ERROR)  # "Could not identify language"
    from TTS.config.shared_configs import BaseAudioConfig
    from TTS.tts.configs.vits_config import VitsConfig
    from TTS.tts.models.vits import Vits, VitsArgs

    multi = dict(use_speaker_embedding=True) if speakers > 1 else {}
    args = VitsArgs(num_chars=num_symbols, **{**MEDIUM_DECODER, **overrides, **multi})
    audio = BaseAudioConfig(sample_rate=SAMPLE_RATE, fft_size=FFT, win_length=FFT, hop_length=HOP, num_mels=MELS,
                            mel_fmin=0, mel_fmax=None)
    config = VitsConfig(model_args=args, audio=audio, characters=None, add_blank=False,
                        use_phonemes=False)
    if speakers > 1:
        config.speakers = [f"speaker{i}" for i in range(speakers)]   # read by Coqui's SpeakerManager
    with torch.random.fork_rng(devices=[], enabled=seed is not None):
        if seed is not None:
            torch.manual_seed(seed)
        model = Vits(config)
        # Coqui sizes the embedding from its own character set; we feed Piper's ids, so size it to match.
        model.text_encoder.emb = torch.nn.Embedding(num_symbols, args.hidden_channels)
        torch.nn.init.normal_(model.text_encoder.emb.weight, 0.0, args.hidden_channels ** -0.5)
    model.args.num_chars = num_symbols
    return model


def load_piper_weights(model, onnx_path: str | Path) -> list[str]:
    """Copy every exported tensor into `model`; returns the model keys left at their initialisation."""
    import torch

    state = model.state_dict()
    filled: set[str] = set()
    for name, value in onnx_tensors(onnx_path).items():
        key = coqui_name(name)
        if key is None:
            continue
        tensor = torch.from_numpy(np.array(value, dtype=np.float32))
        if key in state:
            if state[key].shape != tensor.shape:
                raise ValueError(f"{name} -> {key}: shape {tuple(tensor.shape)} != {tuple(state[key].shape)}")
            state[key] = tensor
            filled.add(key)
            continue
        base = key.rsplit(".", 1)[0]
        g, v = f"{base}.parametrizations.weight.original0", f"{base}.parametrizations.weight.original1"
        if key.endswith(".weight") and g in state:  # weight norm: v = w, g = |w| over all dims but one
            keep = [d for d, n in enumerate(state[g].shape) if n > 1]
            dims = [d for d in range(tensor.dim()) if d not in keep]
            state[g] = tensor.norm(dim=dims, keepdim=True)
            state[v] = tensor
            filled |= {g, v}
            continue
        raise KeyError(f"{name} -> {key}: no such tensor in the Coqui model")
    model.load_state_dict(state)
    return sorted(k for k in state if k not in filled)


def load_voice_model(profile, seed: int | None = None):
    """The full Coqui Vits (generator, posterior encoder, discriminator) of a profile, on CPU; what the
    profile's weights do not fill starts from `seed` (build_vits)."""
    import torch

    from pipelines.errors import UserInputError

    model = build_vits(profile.piper_config["num_symbols"], seed=seed, **profile.architecture)
    if profile.weights_path:
        state = torch.load(profile.weights_path, map_location="cpu", weights_only=True)
        missing, unexpected = model.load_state_dict(state, strict=False)
        if unexpected or any(not k.startswith("disc.") for k in missing):
            raise UserInputError(f"weights do not fit this voice's architecture ({len(missing)} missing)",
                                 path=profile.weights_path)
    else:
        load_piper_weights(model, profile.onnx_path)
    return model
