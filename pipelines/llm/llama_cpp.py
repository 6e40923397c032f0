"""llama.cpp in process: the bundled Gemma 3 270M by default, or any GGUF a user gives.

A GGUF that carries a chat template (instruction-tuned models) is driven through it; a base model
without one (the bundled Gemma) gets a few-shot completion prompt with stop strings.
"""
from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import ModelFilesError, StageError, UserInputError
from ..types import Message
from .prompting import as_openai, completion_prompt

BUNDLED = "gemma3-270m"


class LlamaCppLLM:
    @dataclass(frozen=True)
    class Config:
        model: str = BUNDLED        # the bundled base model, or a path to a .gguf file
        n_ctx: int = 2048
        n_threads: int = 0          # 0 = all cores
        n_gpu_layers: int = -1      # offload everything when llama.cpp was built with GPU support
        max_tokens: int = 96
        temperature: float = 0.6
        top_p: float = 0.9
        repeat_penalty: float = 1.15
        seed: int = 0
        timeout: float = 60.0       # wall-clock cap on one reply, seconds
        template: str = "auto"      # auto | chat | completion

        def __post_init__(self):
            if self.template not in ("auto", "chat", "completion"):
                raise ValueError("template must be auto, chat or completion")
            if self.n_ctx < 256 or self.max_tokens < 1 or self.timeout <= 0:
                raise ValueError("n_ctx >= 256, max_tokens >= 1 and timeout > 0 are required")

    def __init__(self, config: Config | None = None):
        self.config = config or self.Config()
        self._llm = None
        self._lock = threading.Lock()  # a llama context serves one generation at a time

    @property
    def llm(self):
        if self._llm is None:
            self._llm = load_model(self.config)
        return self._llm

    def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    @property
    def context_size(self) -> int:
        return self.config.n_ctx

    @property
    def uses_chat_template(self) -> bool:
        if self.config.template != "auto":
            return self.config.template == "chat"
        return bool(self.llm.metadata.get("tokenizer.chat_template"))

    def count_tokens(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def reply(self, messages: Sequence[Message]) -> Iterator[str]:
        c = self.config
        sampling = dict(max_tokens=c.max_tokens, temperature=c.temperature, top_p=c.top_p,
                        repeat_penalty=c.repeat_penalty, seed=c.seed, stream=True)
        deadline = time.monotonic() + c.timeout
        with self._lock:
            llm = self.llm
            try:
                if self.uses_chat_template:
                    stream = llm.create_chat_completion(messages=as_openai(messages), **sampling)
                    pieces = (chunk["choices"][0]["delta"].get("content") or "" for chunk in stream)
                else:
                    prompt, stops = completion_prompt(messages)
                    stream = llm.create_completion(prompt, stop=stops, **sampling)
                    pieces = (chunk["choices"][0]["text"] for chunk in stream)
                for piece in pieces:
                    if piece:
                        yield piece
                    if time.monotonic() > deadline:
                        break  # a partial reply beats a hang
            except ValueError as exc:  # llama.cpp's "Requested tokens exceed context window"
                if "context window" in str(exc):
                    raise UserInputError(f"conversation too long for the model's {c.n_ctx}-token context") from None
                raise StageError("llm", "llama-cpp", exc) from exc


def load_model(config: LlamaCppLLM.Config):
    from llama_cpp import Llama

    if config.model == BUNDLED:
        from .bundled import gemma_path

        path = gemma_path()
    else:
        path = Path(config.model).expanduser()
        if not path.is_file():
            raise UserInputError("GGUF model file not found", path=path)
        with open(path, "rb") as f:
            if f.read(4) != b"GGUF":
                raise UserInputError("not a GGUF model file", path=path)
    threads = config.n_threads or os.cpu_count() or 1
    try:
        return Llama(model_path=str(path), n_ctx=config.n_ctx, n_threads=threads, n_threads_batch=threads,
                     n_gpu_layers=config.n_gpu_layers, seed=config.seed, verbose=False)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelFilesError(f"{path}: llama.cpp could not load it ({exc})") from None
