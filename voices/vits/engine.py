"""The VITS voice stage: a Coqui `Vits` (PyTorch; the model voice cloning fine-tunes) and an
onnxruntime fast path on the same weights. Both return speech with phoneme and word timings."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace

import numpy as np

from pipelines.devices import torch_device
from pipelines.stages import Progress, no_progress
from pipelines.types import Speech

from ..profiles import VoiceProfile, load_voice
from ..synthesis import MelodyGuide, synthesize_text

log = logging.getLogger(__name__)
# torch's global random generator, held while it is seeded for speech or drawn from by a training step: a
# clone scored in a helper thread while it trains (finetune.ScoringBeside) draws exactly the noise its seed
# gives, and the training beside it exactly the numbers it would have drawn alone
TORCH_RNG = threading.RLock()


@dataclass(frozen=True)
class VoiceOptions:
    voice: str = "joe"           # a profile name (dh voices) or a profile folder
    speed: float = 1.0           # 1.2 = 20 % faster
    pitch: float = 0.0           # semitones
    noise_scale: float | None = None   # variation in timbre/prosody; None: the voice's own (Piper's 0.667)
    noise_w: float = 0.8         # variation in rhythm
    seed: int = 0                # same text + seed -> same audio
    sentence_pause: float = 0.3
    paragraph_pause: float = 0.7


class _VitsBase:
    Config = VoiceOptions

    def __init__(self, config: VoiceOptions | None = None):
        self.config = config or self.Config()
        self.profile: VoiceProfile = load_voice(self.config.voice)
        self._model = None
        self._guide: MelodyGuide | None | bool = False   # False: not looked for yet
        self._lock = threading.Lock()

    @property
    def sample_rate(self) -> int:
        return int(self.profile.piper_config["audio"]["sample_rate"])

    def synthesize(self, text: str, *, progress: Progress = no_progress) -> Speech:
        c = self.config
        with self._lock:
            model = self.model
            return synthesize_text(text, model, self.profile.piper_config["phoneme_id_map"],
                                   self.profile.espeak_voice, speed=c.speed,
                                   pitch=c.pitch + self.profile.pitch_shift,
                                   noise_scale=self.profile.noise_scale if c.noise_scale is None else c.noise_scale,
                                   noise_w=c.noise_w, seed=c.seed,
                                   sentence_pause=c.sentence_pause, paragraph_pause=c.paragraph_pause,
                                   melody=self.melody_guide, progress=progress)

    @property
    def melody_guide(self) -> MelodyGuide | None:
        """The base voice, on the same engine, when this voice speaks with its melody (profile.melody_gain)."""
        if self._guide is False:
            self._guide = None
            if self.profile.melody_gain > 0 and self.profile.base and self.profile.base != self.profile.name:
                try:
                    base = type(self)(replace(self.config, voice=self.profile.base, pitch=0.0, noise_scale=None))
                    self._guide = MelodyGuide(base.model, self.profile.melody_gain, base.profile.noise_scale)
                except Exception as exc:   # the clone still speaks, in its own (flat) melody
                    log.warning("voice '%s': its base voice '%s' cannot be loaded (%s); speaking without its "
                                "melody", self.profile.name, self.profile.base, exc)
        return self._guide


class TorchVits:
    """Coqui Vits wrapped to the VoiceModel interface. `training=True` wraps a model that is being trained,
    as it is (device and mode left alone), under no_grad rather than inference_mode: Coqui caches tensors
    that training later differentiates through. The seeded RNG is forked, so speaking never moves training's."""

    def __init__(self, vits, sample_rate: int, device: str = "cpu", *, training: bool = False,
                 speaker: int | None = None):
        self.vits = vits if training else vits.to(device).eval()
        self.sample_rate, self.device, self.training = sample_rate, device, training
        self.speaker = speaker   # which voice of a two-speaker model in training (voices/vits/speakers.py)

    def generate(self, ids, *, length_scale, noise_scale, noise_w, seed):
        import torch

        v = self.vits
        v.length_scale, v.inference_noise_scale, v.inference_noise_scale_dp = length_scale, noise_scale, noise_w
        no_autograd = torch.no_grad() if self.training else torch.inference_mode()
        with TORCH_RNG, no_autograd, torch.random.fork_rng(devices=[] if self.device == "cpu" else None):
            torch.manual_seed(seed)
            aux = {"x_lengths": None, "d_vectors": None, "language_ids": None, "durations": None,
                   "speaker_ids": None if self.speaker is None else torch.tensor([self.speaker], device=self.device)}
            out = v.inference(torch.tensor([ids], device=self.device), aux_input=aux)
        audio = out["model_outputs"].reshape(-1).float().cpu().numpy()
        return audio, out["durations"].reshape(-1).cpu().numpy()


def load_torch_vits(profile: VoiceProfile):
    from .port import load_voice_model

    return load_voice_model(profile)


class VitsTTS(_VitsBase):
    """PyTorch VITS (Coqui), default voice ported from Piper's ONNX at load."""

    @dataclass(frozen=True)
    class Config(VoiceOptions):
        device: str = "auto"

    @property
    def model(self):
        if self._model is None:
            device = torch_device(self.config.device)
            self._model = TorchVits(load_torch_vits(self.profile), self.sample_rate, device)
        return self._model


NOISE_FRAMES = 16384   # longest noise run (frames or phonemes) one call can draw: ~190 s of audio


def _fixed_noise(graph, seed: int) -> None:
    """Replace each RandomNormalLike by a slice of a seeded constant the shape of its input, so every call
    draws the same noise (as the PyTorch engine does with its seed): the same text and seed give the same
    audio, whatever was synthesised before. onnxruntime's own generator runs on from call to call."""
    import onnx
    from onnx import helper, numpy_helper

    rng = np.random.default_rng(seed)
    nodes = list(graph.graph.node)
    for k, node in enumerate(nodes):
        if node.op_type != "RandomNormalLike":
            continue
        in_duration_predictor = "/dp/" in node.output[0] or "/duration_predictor/" in node.output[0]  # Piper, ours
        channels = 2 if in_duration_predictor else 192   # duration-predictor noise vs latent noise
        noise = rng.standard_normal((1, channels, NOISE_FRAMES)).astype(np.float32)
        name = f"fixed_noise_{k}"
        graph.graph.initializer.append(numpy_helper.from_array(noise, name))
        graph.graph.initializer.append(numpy_helper.from_array(np.zeros(3, np.int64), name + "_starts"))
        shape = helper.make_node("Shape", [node.input[0]], [name + "_shape"])
        cut = helper.make_node("Slice", [name, name + "_starts", name + "_shape"], [node.output[0]])
        index = list(graph.graph.node).index(node)
        graph.graph.node.remove(node)
        graph.graph.node.insert(index, cut)
        graph.graph.node.insert(index, shape)
    del onnx


class OnnxVits:
    """onnxruntime session giving audio and frames per phoneme: Piper's graphs have only the audio output, so
    their duration tensor (`/Ceil`) is exposed as a second one; our own exports (clones) return both."""

    def __init__(self, path, sample_rate: int, seed: int = 0):
        import onnx
        import onnxruntime as ort

        graph = onnx.load(str(path))
        if len(graph.graph.output) < 2:
            ceil = next(n.output[0] for n in graph.graph.node if n.op_type == "Ceil")
            graph.graph.output.append(onnx.helper.make_tensor_value_info(ceil, onnx.TensorProto.FLOAT, None))
        _fixed_noise(graph, seed)
        self.session = ort.InferenceSession(graph.SerializeToString(), providers=ort.get_available_providers())
        self.sample_rate = sample_rate

    def generate(self, ids, *, length_scale, noise_scale, noise_w, seed):
        audio, durations = self.session.run(None, {
            "input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)], np.int64),
            "scales": np.array([noise_scale, length_scale, noise_w], np.float32)})
        return audio.reshape(-1), durations.reshape(-1)


class OnnxVitsTTS(_VitsBase):
    """The same VITS through onnxruntime: faster on CPU, inference only. Its noise is drawn once from the
    seed, so like the PyTorch engine the same text and seed give the same audio every time. Cloned voices
    run here too: their fine-tuned weights are exported to ONNX after training (or on first use)."""

    @property
    def model(self):
        if self._model is None:
            from .export import ensure_onnx

            path = ensure_onnx(self.profile)  # a clone is exported once, on first use, if training did not
            if path is None:
                from pipelines.errors import ConfigError

                raise ConfigError(f"voice '{self.profile.name}' has no weights to run; use the 'vits' engine")
            self._model = OnnxVits(path, self.sample_rate, self.config.seed)
        return self._model
