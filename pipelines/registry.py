"""One explicit table of engines: name -> "module:Class", imported only when built.

`dh --help`, config validation and the UI's dropdowns read this table without importing torch.
Each engine class carries a frozen `Config` dataclass; `build` rejects unknown options by name.
"""
from __future__ import annotations

import dataclasses
import atexit
import importlib
import importlib.util
import threading
import types
import typing
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError, MissingDependency
from .stages import KINDS


@dataclass(frozen=True)
class Engine:
    target: str                 # "package.module:Class"
    extra: str                  # the pip extra that installs what it needs
    requires: tuple[str, ...]   # top-level modules that must be importable
    summary: str


REGISTRY: dict[str, dict[str, Engine]] = {
    "asr": {
        "faster-whisper": Engine(
            "pipelines.asr.faster_whisper:FasterWhisperASR", "asr", ("faster_whisper",),
            "Whisper via CTranslate2 (int8 on CPU); bundled Whisper base, fully offline"),
        "whisper": Engine(
            "pipelines.asr.whisper:WhisperASR", "asr", ("whisper", "torch"),
            "reference openai-whisper code; bundled Whisper base rebuilt in memory, or any .pt"),
    },
    "llm": {
        "llama-cpp": Engine(
            "pipelines.llm.llama_cpp:LlamaCppLLM", "llm", ("llama_cpp",),
            "llama.cpp in process; bundled Qwen2.5-Coder 1.5B/0.5B Instruct, Gemma 3 270M, or any GGUF; offline"),
        "openai": Engine(
            "pipelines.llm.openai:OpenAILLM", "llm", ("httpx",),
            "any OpenAI-compatible server: OpenAI, Ollama, vLLM, llama.cpp server"),
    },
    "tts": {
        "vits": Engine(
            "voices.vits.engine:VitsTTS", "tts", ("TTS", "torch", "espeakng_loader"),
            "VITS in PyTorch (Coqui); default voice joe, and fine-tuned clones"),
        "vits-onnx": Engine(
            "voices.vits.engine:OnnxVitsTTS", "tts", ("onnxruntime", "onnx", "espeakng_loader"),
            "the same VITS through onnxruntime: faster on CPU, inference only"),
    },
    "lipsync": {
        "warp": Engine(
            "avatar.render:WarpLipSync", "avatar", ("cv2", "av"),
            "a portrait or a short video: FaceMesh landmarks, triangulated lip/jaw warp, eyelid blinks (CPU)"),
        "wav2lip": Engine(
            "avatar.wav2lip:Wav2LipLipSync", "avatar", ("cv2", "av", "torch", "librosa"),
            "Wav2Lip with your own checkpoint (weights not bundled: non-commercial licence)"),
    },
}

DEFAULTS = {"asr": "faster-whisper", "llm": "llama-cpp", "tts": "vits-onnx", "lipsync": "warp"}


def _kind_table(kind: str) -> dict[str, Engine]:
    if kind not in REGISTRY:
        raise ConfigError(f"unknown stage kind '{kind}'; valid kinds: {', '.join(KINDS)}")
    return REGISTRY[kind]


def names(kind: str) -> list[str]:
    return list(_kind_table(kind))


def entry(kind: str, name: str) -> Engine:
    table = _kind_table(kind)
    if name not in table:
        valid = ", ".join(table) or "(none yet)"
        raise ConfigError(f"unknown {kind} engine '{name}'; valid choices: {valid}")
    return table[name]


def missing_modules(kind: str, name: str) -> list[str]:
    return [m for m in entry(kind, name).requires if importlib.util.find_spec(m) is None]


def engine_class(kind: str, name: str) -> type:
    """Import the engine's module. Engine modules keep heavy imports inside methods, so this is cheap."""
    spec = entry(kind, name)
    missing = missing_modules(kind, name)
    if missing:
        raise MissingDependency(
            f"{kind} engine '{name}' needs {', '.join(missing)}, which is not installed; "
            f"run: pip install \"digital-human[{spec.extra}]\"")
    module_name, _, class_name = spec.target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def make_config(kind: str, name: str, options: dict[str, Any] | None = None):
    """Validate options against the engine's Config dataclass; unknown keys are named."""
    cls = engine_class(kind, name)
    options = dict(options or {})
    fields = {f.name for f in dataclasses.fields(cls.Config)}
    unknown = sorted(set(options) - fields)
    if unknown:
        raise ConfigError(
            f"unknown option(s) {', '.join(unknown)} for {kind} engine '{name}'; "
            f"valid options: {', '.join(sorted(fields)) or '(none)'}")
    hints = typing.get_type_hints(cls.Config)
    for key, value in options.items():
        members = _plain_members(hints.get(key))
        if members and not _fits(value, members):
            wanted = " or ".join(_WORDS[m] for m in members if m is not type(None))
            raise ConfigError(f"bad option for {kind} engine '{name}': {key} must be {wanted}, got {value!r}")
    try:
        return cls.Config(**options)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad option for {kind} engine '{name}': {exc}") from exc


_WORDS = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}


def _plain_members(hint) -> tuple[type, ...]:
    """The plain types (int, float, str, bool, None) an option's annotation is made of; () when it has any
    other, which is left to the engine to check."""
    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    members = typing.get_args(hint) if union else (hint,)
    return members if members and all(m in (*_WORDS, type(None)) for m in members) else ()


def _fits(value, members: tuple[type, ...]) -> bool:
    """A number may be given as an int; true/false is not a number."""
    if isinstance(value, bool):
        return bool in members
    return isinstance(value, members) or (isinstance(value, int) and float in members)


_cache: dict[tuple, Any] = {}
_lock = threading.Lock()


def build(kind: str, name: str, **options: Any):
    """Build (once per process) the engine for kind/name/options and share it."""
    config = make_config(kind, name, options)
    key = (kind, name, repr(config))
    with _lock:
        if key not in _cache:
            _cache[key] = engine_class(kind, name)(config)
        return _cache[key]


@atexit.register
def clear_cache() -> None:
    """Release shared engines (some free native memory in `close`, which must not wait for shutdown)."""
    with _lock:
        for engine in _cache.values():
            close = getattr(engine, "close", None)
            if callable(close):
                close()
        _cache.clear()
