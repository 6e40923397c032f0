"""A fine-tuned voice -> an ONNX file the `vits-onnx` engine runs, about twice as fast as PyTorch on a CPU.

Piper ships its voices as ONNX; clones are trained in PyTorch (Coqui `Vits`). The export traces Coqui's
inference with the scales (noise, length, noise_w) as graph inputs, like Piper's, and returns the frames per
phoneme as a second output so synthesis keeps its word timings. Weight norm is folded in first (as Piper
does), the discriminator left out. The export is checked against PyTorch on a probe sentence before it
replaces anything: a file that would speak differently is never written.
"""
from __future__ import annotations

import copy
import logging
import os
import warnings
from pathlib import Path

import numpy as np

from pipelines.errors import ModelFilesError

from ..profiles import VoiceProfile

log = logging.getLogger(__name__)
INPUTS, OUTPUTS = ["input", "input_lengths", "scales"], ["output", "durations"]
PROBE = "The export speaks this sentence the same way, word for word."
# largest sample difference allowed, as a fraction of the peak: measured 3e-5 for joe, 5e-7 for a tiny random
# model (onnxruntime vs PyTorch arithmetic); a wrong export (say, dropout left on) differs by 1-100 %.
MAX_SAMPLE_DIFFERENCE = 1e-3


def export_onnx(model, path: Path, probe_ids: list[int]) -> Path:
    """Write `model` (a Coqui Vits) as ONNX at `path`, atomically, after checking it against PyTorch."""
    import torch
    from torch.nn.utils import parametrize

    generator = copy.deepcopy(model).cpu().eval()
    generator.disc = None
    for module in generator.modules():
        if parametrize.is_parametrized(module, "weight"):
            parametrize.remove_parametrizations(module, "weight")

    class Inference(torch.nn.Module):
        def __init__(self, vits):
            super().__init__()
            self.vits = vits

        def forward(self, text, text_lengths, scales):
            v = self.vits
            v.inference_noise_scale, v.length_scale, v.inference_noise_scale_dp = scales[0], scales[1], scales[2]
            out = v.inference(text, aux_input={"x_lengths": text_lengths, "d_vectors": None, "speaker_ids": None,
                                                "language_ids": None, "durations": None})
            return out["model_outputs"], out["durations"]

    ids = torch.tensor([probe_ids])
    partial = path.with_name(path.name + ".partial")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python control flow on shapes: expected
        torch.onnx.export(
            Inference(generator).eval(), (ids, torch.tensor([ids.shape[1]]), torch.tensor([0.667, 1.0, 0.8])),
            str(partial), dynamo=False, opset_version=17, input_names=INPUTS, output_names=OUTPUTS,
            dynamic_axes={"input": {0: "batch", 1: "phonemes"}, "input_lengths": {0: "batch"},
                          "output": {0: "batch", 2: "samples"}, "durations": {0: "batch", 2: "phonemes"}})
    try:
        _check_against_torch(partial, generator, probe_ids)
    except Exception:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
    return path


def _check_against_torch(path: Path, generator, probe_ids: list[int]) -> None:
    """Noise off, both must give the same samples and durations."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    audio, durations = session.run(None, {
        "input": np.array([probe_ids], np.int64), "input_lengths": np.array([len(probe_ids)], np.int64),
        "scales": np.array([0.0, 1.0, 0.0], np.float32)})
    generator.eval()  # the exporter restores the wrapper's mode afterwards, recursively
    generator.inference_noise_scale, generator.length_scale, generator.inference_noise_scale_dp = 0.0, 1.0, 0.0
    with torch.inference_mode():
        out = generator.inference(torch.tensor([probe_ids]))
    expected = out["model_outputs"].reshape(-1).numpy()
    if not np.array_equal(durations.reshape(-1), out["durations"].reshape(-1).numpy()) or \
            audio.size != expected.size or \
            np.abs(audio.reshape(-1) - expected).max() > MAX_SAMPLE_DIFFERENCE * max(np.abs(expected).max(), 1e-6):
        raise ModelFilesError(f"{path}: the ONNX export does not match the PyTorch voice; not used")


def export_voice(profile: VoiceProfile) -> Path:
    """`model.onnx` beside a clone's weights (replacing an older one)."""
    from ..frontend import text_ids
    from .port import load_voice_model

    if not profile.weights_path:
        raise ModelFilesError(f"voice '{profile.name}' has no fine-tuned weights to export")
    model = load_voice_model(profile)
    probe = text_ids(PROBE, profile.piper_config["phoneme_id_map"], profile.espeak_voice)
    return export_onnx(model, profile.folder / "model.onnx", probe)


def ensure_onnx(profile: VoiceProfile) -> Path | None:
    """The voice's ONNX file, exporting a clone's weights first when its export is missing or older."""
    if profile.onnx_path is not None:
        return profile.onnx_path
    if not profile.weights_path or not profile.weights_path.is_file():
        return None
    log.info("exporting voice '%s' to ONNX (once)", profile.name)
    return export_voice(profile)
