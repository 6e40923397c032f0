"""Two speakers in one VITS while it trains, one speaker when it speaks.

Fine-tuning on ~20 clips of a person garbles words because the shared networks (flow, decoder, posterior)
forget how the base voice spoke everything else. VITS-fast-fine-tuning keeps them general by training on
the base voice's own speech too ("auxiliary data"), with a speaker embedding so the two voices do not blur.
Our base voices are single-speaker, so the embedding is added here: Coqui's speaker-conditioning layers
start at zero, which leaves the base voice's output exactly as it was until training moves them.

A speaker embedding only ever adds a per-channel constant (the conditioning convolutions are 1x1 over a
vector that does not change in time), so once trained, one speaker folds into the biases of the layers it
is added to and the voice is a plain single-speaker VITS again: same architecture, same ONNX export, same
synthesis code as any other voice.
"""
from __future__ import annotations

BASE_SPEAKER, PERSON_SPEAKER = 0, 1


def is_two_speaker(state: dict) -> bool:
    return "emb_g.weight" in state


def two_speaker_model(single, num_symbols: int, architecture: dict, *, every_up_layer: bool = False,
                      seed: int | None = None):
    """A two-speaker copy of a single-speaker Coqui Vits that speaks exactly like it (for both speakers)
    until trained. `single` may be a model or its state dict. `every_up_layer`: the speaker is also added
    after each of the decoder's upsampling layers (HiFi-GAN's `cond_in_each_up_layer`, which Coqui's VITS
    does not wire), not only at its input: a constant per channel at five depths, with nonlinearities
    between, where one at the input is all the decoder otherwise has to tell the two voices apart. `seed`:
    the speaker embedding's start (build_vits)."""
    from .port import build_vits

    model = build_vits(num_symbols, speakers=2, seed=seed, **architecture)
    if every_up_layer:
        add_up_layer_conditioning(model.waveform_decoder, model.emb_g.embedding_dim)
    state = single if isinstance(single, dict) else single.state_dict()
    missing = load_single_speaker_state(model, state)
    unexplained = [k for k in missing if not (k.startswith(("emb_g.", "disc.")) or is_conditioning(k))]
    if unexplained:
        raise ValueError(f"the two-speaker model has tensors the voice lacks: {unexplained[:3]}")
    return model


def load_single_speaker_state(model, state: dict) -> list[str]:
    """Load a single-speaker state into a two-speaker model, its conditioning silenced (zero): both speakers
    then speak as the single one did. Returns the keys the state did not have."""
    import torch

    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise ValueError(f"not a single-speaker state of this architecture: {unexpected[:3]}")
    with torch.no_grad():
        for _, module in _conditioning_layers(model):
            for pname, p in module.named_parameters():
                if not pname.endswith("original1"):   # weight norm's direction v stays: 0/|0| is NaN
                    p.zero_()                          # its magnitude g, or a plain weight, and the bias
    return missing


def add_up_layer_conditioning(decoder, channels: int) -> None:
    """Coqui's HiFi-GAN generator adds `conds[i](g)` after upsampling layer i when `cond_in_each_up_layer`
    is set; its VITS never sets it, so the layers are made here (zeroed by load_single_speaker_state)."""
    import torch

    decoder.cond_in_each_up_layer = True
    decoder.conds = torch.nn.ModuleList(torch.nn.Conv1d(channels, up.out_channels, 1) for up in decoder.ups)


def has_up_layer_conditioning(state: dict) -> bool:
    return any(".conds." in k for k in state)


def is_conditioning(key: str) -> bool:
    return any(part in key for part in ("cond_layer.", ".cond.", ".conds."))


def _conditioning_layers(model):
    for name, module in model.named_modules():
        up_layer = ".conds." in name and name.rsplit(".", 1)[-1].isdigit()
        if (name.endswith(("cond_layer", ".cond")) or up_layer) and not name.startswith("disc."):
            yield name, module


def fold_speaker(model, speaker: int = PERSON_SPEAKER) -> dict:
    """The state dict of a single-speaker Vits that speaks as `speaker` of this two-speaker model: each
    conditioning layer's output for that speaker added to the bias it would have been added to."""
    import torch

    state = {k: v.detach().clone() for k, v in model.state_dict().items()
             if not (k.startswith("emb_g.") or is_conditioning(k))}
    with torch.no_grad():
        g = model.emb_g(torch.tensor([speaker], device=model.emb_g.weight.device)).unsqueeze(-1)   # [1, C, 1]
        for name, module in _conditioning_layers(model):
            offset = module(g.to(next(module.parameters()).dtype))[0, :, 0]
            parent = name.rsplit(".", 1)[0]
            if ".conds." in name:                                # HiFi-GAN: o = ups[i](o) + conds[i](g)
                decoder, i = name.rsplit(".conds.", 1)
                state[f"{decoder}.ups.{i}.bias"] += offset
            elif name.endswith("cond_layer") and parent.endswith("waveform_decoder"):
                state[f"{parent}.conv_pre.bias"] += offset      # HiFi-GAN: o = conv_pre(x) + cond_layer(g)
            elif name.endswith(".cond"):
                state[f"{parent}.pre.bias"] += offset           # duration predictor: x = pre(x) + cond(g)
            else:                                               # WaveNet: layer i gets slice i, added to its input conv
                hidden = model.state_dict()[f"{parent}.in_layers.0.bias"].shape[0]
                for i in range(offset.shape[0] // hidden):
                    state[f"{parent}.in_layers.{i}.bias"] += offset[i * hidden:(i + 1) * hidden]
    return {k: v.cpu() for k, v in state.items()}
