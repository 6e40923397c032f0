"""The reference openai-whisper code, on the bundled Whisper base rebuilt from its CT2 export.

Long audio is cut at quiet points into windows of at most 30 s (progress per window, bounded work),
and each window is prompted with the end of the previous text so style and names carry over.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from ..devices import torch_device
from ..errors import ModelFilesError, UserInputError
from ..stages import Progress, no_progress
from ..types import Segment, Transcript, Word
from .common import check_chinese, make_transcript, prepare, quiet_cut_points
from .repair import rehear


class WhisperASR:
    @dataclass(frozen=True)
    class Config:
        model: str = "base"          # "base" = bundled; another whisper name (cached .pt), a .pt path or a CT2 folder
        device: str = "auto"
        language: str | None = None  # None = detect
        chinese: str = "simplified"  # script for Mandarin output: simplified | traditional | as-is
        beam_size: int | None = None # None = greedy with temperature fallback (whisper's default)
        chunk_seconds: float = 30.0

        def __post_init__(self):
            check_chinese(self.chinese)
            if not 5 <= self.chunk_seconds <= 30:
                raise ValueError("chunk_seconds must be between 5 and 30")

    def __init__(self, config: Config | None = None):
        self.config = config or self.Config()
        self._model = None
        self._lock = threading.Lock()  # one decode at a time: the model's kv hooks are not reentrant

    @property
    def model(self):
        if self._model is None:
            self._model = load_model(self.config.model, self.config.device)
        return self._model

    def transcribe(self, audio, *, language: str | None = None, progress: Progress = no_progress) -> Transcript:
        import torch
        import whisper

        audio = prepare(audio)
        language = language or self.config.language
        model = self.model
        cuts = quiet_cut_points(audio, self.config.chunk_seconds)
        segments: list[Segment] = []
        prompt = None
        progress(0.0, "transcribing")
        # whisper falls back to sampling when a window looks repetitive: seed it so output is reproducible
        with self._lock, torch.inference_mode(), torch.random.fork_rng():
            torch.manual_seed(0)
            def decode(a: int, b: int, prompt: str | None, follow: bool):
                result = whisper.transcribe(
                    model, audio.samples[a:b], language=language, word_timestamps=True, initial_prompt=prompt,
                    fp16=model.device.type == "cuda", verbose=None, beam_size=self.config.beam_size,
                    condition_on_previous_text=follow)
                offset = a / audio.sample_rate
                return result, [_segment(s, offset) for s in result["segments"]]

            for i, (a, b) in enumerate(zip(cuts, cuts[1:])):
                result, pieces = decode(a, b, prompt, True)
                language = language or result["language"]
                segments += pieces
                text = result["text"].strip()
                prompt = text[-200:] if text else prompt
                progress((i + 1) / (len(cuts) - 1), f"transcribed {b / audio.sample_rate:.0f} of {audio.duration:.0f} s")
            sr = audio.sample_rate
            segments = rehear(segments, audio, lambda start, end: decode(int(start * sr), int(end * sr), None, False)[1],
                              lambda note: progress(0.99, note))
        return make_transcript(segments, audio, language or "en", self.config.chinese)


def _segment(piece: dict, offset: float) -> Segment:
    words = tuple(Word(w["word"].strip(), offset + float(w["start"]), offset + float(w["end"]), float(w["probability"]))
                  for w in piece.get("words", ()))
    return Segment(offset + float(piece["start"]), offset + float(piece["end"]), piece["text"], words)


def load_model(name: str = "base", device: str = "auto"):
    """whisper-style facade: the bundled base by default, else whisper's own loader or a CT2 folder."""
    import whisper

    from .bundled import whisper_base_dir
    from .ct2_whisper import load_whisper_from_ct2

    device = torch_device(device)
    if name == "base":
        return load_whisper_from_ct2(whisper_base_dir(), device)
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model.bin").is_file():
            raise UserInputError("folder holds no CTranslate2 model.bin", path=path)
        return load_whisper_from_ct2(path, device)
    if path.suffix == ".pt" and not path.is_file():
        raise UserInputError("Whisper checkpoint not found", path=path)
    if not path.is_file() and name not in whisper.available_models():
        raise UserInputError(
            f"unknown Whisper model '{name}'; give 'base' (bundled), a .pt file, a CTranslate2 folder, "
            f"or one of: {', '.join(whisper.available_models())}")
    try:
        return whisper.load_model(str(path) if path.is_file() else name, device=device).eval()
    except (OSError, RuntimeError) as exc:
        if path.is_file():
            raise ModelFilesError(f"{path}: not a loadable Whisper checkpoint ({exc})") from None
        raise ModelFilesError(
            f"Whisper '{name}' is not bundled and could not be downloaded ({exc.__class__.__name__}); "
            f"offline, use model='base' or place {name}.pt in ~/.cache/whisper") from None
