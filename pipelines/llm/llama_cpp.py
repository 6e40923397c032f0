"""llama.cpp in process: a bundled model by short name (Qwen2.5-Coder 1.5B by default), or any GGUF.

A GGUF that carries a chat template (the instruction-tuned Qwen models) is driven through it; a base model
without one (the bundled Gemma 3 270M) gets a few-shot completion prompt with stop strings.

Speed on a small CPU comes from three things: the weights are read into RAM once (`use_mmap=False` avoids
a mapped copy plus llama.cpp's repacked copy), the prompt is read with every core while tokens are written
with fewer (generation shares the CPU with the voice), and the persona's fixed prefix (system prompt and
examples) is evaluated once and its KV state kept, in memory and on disk, so a turn only reads its new words.
"""
from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from ..cache import cache_dir
from ..errors import ModelFilesError, StageError, UserInputError
from ..types import Message
from .bundled import ALIASES, DEFAULT, NAMES, bundled_path
from .prompting import as_openai, completion_prompt

log = logging.getLogger(__name__)
BUNDLED = DEFAULT


def generation_threads(cores: int) -> int:
    """Measured on 2 cores with the voice running beside it: one generation thread is faster than two."""
    return max(1, cores - 1) if cores <= 4 else cores // 2


class LlamaCppLLM:
    @dataclass(frozen=True)
    class Config:
        model: str = DEFAULT        # qwen2.5-coder-1.5b | qwen2.5-coder-0.5b | gemma-3-270m | a .gguf path
        n_ctx: int = 4096
        n_threads: int = 0          # generation threads; 0 = measured choice for this machine
        n_threads_batch: int = 0    # prompt-reading threads; 0 = all cores
        n_batch: int = 256
        n_gpu_layers: int = -1      # offload everything when llama.cpp was built with GPU support
        use_mmap: bool = False      # read the weights into RAM once: less memory than mapping + repacking
        max_tokens: int = 160
        temperature: float = 0.2    # low: factual answers; the persona's style comes from the prompt
        top_p: float = 0.9
        repeat_penalty: float = 1.1
        seed: int = 0
        timeout: float = 60.0       # wall-clock cap on writing one reply (after the prompt is read), seconds
        template: str = "auto"      # auto | chat | completion
        prefix_cache: bool = True   # keep the persona prefix's KV state on disk across runs

        def __post_init__(self):
            if self.template not in ("auto", "chat", "completion"):
                raise ValueError("template must be auto, chat or completion")
            if self.n_ctx < 256 or self.max_tokens < 1 or self.timeout <= 0:
                raise ValueError("n_ctx >= 256, max_tokens >= 1 and timeout > 0 are required")

    def __init__(self, config: Config | None = None):
        self.config = config or self.Config()
        self._llm = None
        self._path: Path | None = None
        self._formatters: dict = {}
        self._prefix: list[Message] = []
        self._prefix_states: dict[tuple, bytes] = {}
        self._lock = threading.Lock()  # a llama context serves one generation at a time

    @property
    def llm(self):
        if self._llm is None:
            self._path = model_path(self.config.model)
            self._llm = load_model(self.config, self._path)
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

    def keep_prefix(self, messages: Sequence[Message], *, now: bool = False) -> None:
        """The messages every prompt starts with (persona, examples): evaluated once, their state kept.
        `now` evaluates them at once (a server warming up) instead of with the first reply."""
        self._prefix = list(messages)
        if now:
            with self._lock:
                self._restore_prefix(self._prefix_ids())

    # --- prompts ------------------------------------------------------------------------------------

    def _chat_formatter(self, generation_prompt: bool):
        if generation_prompt not in self._formatters:
            self._formatters[generation_prompt] = self._make_formatter(generation_prompt)
        return self._formatters[generation_prompt]

    def _make_formatter(self, generation_prompt: bool):
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llm = self.llm
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise UserInputError("template = 'chat' needs a GGUF with a chat template", path=self._path)
        eos, bos = llm.token_eos(), llm.token_bos()
        text = llm._model.token_get_text
        return Jinja2ChatFormatter(template, text(eos) if eos != -1 else "", text(bos) if bos != -1 else "",
                                   add_generation_prompt=generation_prompt)

    def _render(self, messages: Sequence[Message], generation_prompt: bool = True) -> tuple[list[int], list[str]]:
        """Prompt tokens and stop strings: through the GGUF's chat template, or as a few-shot script."""
        if self.uses_chat_template:
            result = self._chat_formatter(generation_prompt)(messages=as_openai(messages))
            prompt, stops = result.prompt, [s for s in result.stop if s]
        else:
            prompt, stops = completion_prompt(messages)
        tokens = self.llm.tokenize(prompt.encode("utf-8"), add_bos=not self.uses_chat_template, special=True)
        return tokens, stops

    def _prefix_ids(self) -> list[int]:
        """The persona prefix's tokens (chat template only; none without a prefix)."""
        if not self._prefix or not self.uses_chat_template:
            return []
        return self._render(self._prefix, generation_prompt=False)[0]

    def _prefix_tokens(self, tokens: list[int]) -> list[int]:
        """The persona prefix's tokens when this prompt starts with them."""
        prefix = self._prefix_ids()
        return prefix if prefix and tokens[:len(prefix)] == prefix and len(prefix) < len(tokens) else []

    def _restore_prefix(self, prefix: list[int]) -> None:
        """Put the prefix's KV state in place unless the context already starts with it."""
        llm = self.llm
        if not prefix or llm.n_tokens >= len(prefix) and list(llm.input_ids[:len(prefix)]) == prefix:
            return
        key = (self._path, self.config.n_ctx, self.config.n_batch, tuple(prefix))
        state = self._prefix_states.get(key)
        disk = self._state_file(key) if self.config.prefix_cache else None
        if state is None and disk is not None and disk.is_file():
            state = disk.read_bytes()
        if state is not None and _set_state(llm, prefix, state):
            self._prefix_states[key] = state
            return
        llm.reset()
        llm.eval(prefix)
        state = _get_state(llm)
        self._prefix_states = {key: state}
        if disk is not None:
            try:
                tmp = disk.with_name(disk.name + f".{os.getpid()}.part")
                tmp.write_bytes(state)
                os.replace(tmp, disk)
            except OSError as exc:  # a cache is a nicety
                log.warning("could not keep the prompt prefix on disk: %s", exc)

    def _state_file(self, key: tuple) -> Path:
        path, n_ctx, n_batch, tokens = key
        st = path.stat()
        digest = hashlib.sha256(repr((str(path), st.st_size, st.st_mtime_ns, n_ctx, n_batch, tokens)).encode())
        return cache_dir("llm-prefix") / f"{digest.hexdigest()[:24]}.state"

    # --- the stage ----------------------------------------------------------------------------------

    def reply(self, messages: Sequence[Message]) -> Iterator[str]:
        c = self.config
        sampling = dict(max_tokens=c.max_tokens, temperature=c.temperature, top_p=c.top_p,
                        repeat_penalty=c.repeat_penalty, seed=c.seed, stream=True)
        deadline = None
        with self._lock:
            llm = self.llm
            stream = None
            try:
                tokens, stops = self._render(messages)
                if len(tokens) + 1 > c.n_ctx:
                    raise UserInputError(f"conversation too long for the model's {c.n_ctx}-token context")
                self._restore_prefix(self._prefix_tokens(tokens))
                stream = llm.create_completion(tokens, stop=stops, **sampling)
                for chunk in stream:
                    deadline = deadline or time.monotonic() + c.timeout
                    piece = chunk["choices"][0]["text"]
                    if piece:
                        yield piece
                    if time.monotonic() > deadline:
                        break  # a partial reply beats a hang
            except ValueError as exc:  # llama.cpp's "Requested tokens exceed context window"
                if isinstance(exc, UserInputError):
                    raise
                if "context window" in str(exc):
                    raise UserInputError(f"conversation too long for the model's {c.n_ctx}-token context") from None
                raise StageError("llm", "llama-cpp", exc) from exc
            finally:
                if stream is not None:
                    stream.close()  # a reply cut short by the caller stops generating here


def _get_state(llm) -> bytes:
    import llama_cpp

    size = llama_cpp.llama_state_get_size(llm._ctx.ctx)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_get_data(llm._ctx.ctx, buffer, size)
    return bytes(memoryview(buffer)[:written])


def _set_state(llm, tokens: list[int], state: bytes) -> bool:
    """Load a saved KV state (without llama-cpp-python's load_state, which copies a 300 MB logits table)."""
    import llama_cpp

    buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
    if llama_cpp.llama_state_set_data(llm._ctx.ctx, buffer, len(state)) != len(state):
        llm.reset()
        return False
    llm.input_ids[:len(tokens)] = tokens
    llm.n_tokens = len(tokens)
    llm._requires_eval = True
    return True


def model_path(model: str) -> Path:
    """A bundled model's short name -> its assembled GGUF; a path -> that file, checked to be a GGUF."""
    if model in NAMES or model in ALIASES:
        return bundled_path(model)
    path = Path(model).expanduser()
    if not path.is_file():
        hint = "" if path.suffix == ".gguf" or os.sep in model else f" (bundled models: {', '.join(NAMES)})"
        raise UserInputError(f"GGUF model file not found{hint}", path=path)
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise UserInputError("not a GGUF model file", path=path)
    return path


def load_model(config: LlamaCppLLM.Config, path: Path):
    # llama.cpp's OpenMP threads spin while they wait for each other; on a busy small CPU (the voice, the
    # avatar or another program running) a spinning thread starves its partner: measured 2 threads 10x
    # slower than 1 under load. Sleeping waits cost little when the CPU is free. Read when OpenMP starts.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from llama_cpp import Llama

    cores = os.cpu_count() or 1
    threads = config.n_threads or generation_threads(cores)
    try:
        with quiet_native_logs():
            return Llama(model_path=str(path), n_ctx=config.n_ctx, n_batch=config.n_batch, n_threads=threads,
                         n_threads_batch=config.n_threads_batch or cores, n_gpu_layers=config.n_gpu_layers,
                         use_mmap=config.use_mmap, seed=config.seed, verbose=False)
    except (ValueError, RuntimeError, OSError) as exc:
        raise ModelFilesError(f"{path}: llama.cpp could not load it ({exc})") from None


class quiet_native_logs:
    """llama.cpp and ggml write warnings straight to fd 2; keep them off the user's terminal unless verbose."""

    def __enter__(self):
        self._saved = None
        if logging.getLogger().isEnabledFor(logging.INFO):  # `dh -v`
            return self
        try:
            self._saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        except OSError:
            self._saved = None
        return self

    def __exit__(self, *exc):
        if self._saved is not None:
            os.dup2(self._saved, 2)
            os.close(self._saved)
        return False
