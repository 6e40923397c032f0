"""Any OpenAI-compatible server (OpenAI, Ollama, vLLM, llama.cpp's server) over plain HTTP streaming.

Uses httpx directly (no SDK): one POST with `stream: true`, server-sent events parsed line by line.
Every failure is a StageError that says which URL and what happened; no call can hang past `timeout`.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from typing import Iterator, Sequence

from ..errors import ServiceUnavailable, UserInputError
from ..types import Message
from .prompting import as_openai, completion_prompt


class OpenAILLM:
    @dataclass(frozen=True)
    class Config:
        base_url: str = ""            # default: $OPENAI_BASE_URL or http://127.0.0.1:8000/v1
        model: str = ""               # default: $OPENAI_MODEL, else the server's first model
        api_key: str = ""             # default: $OPENAI_API_KEY (may be empty for local servers)
        api: str = "chat"             # chat | completion (few-shot prompt, for base models)
        max_tokens: int = 160
        temperature: float = 0.6
        context_size: int = 4096
        connect_timeout: float = 5.0  # seconds to reach the server
        timeout: float = 60.0         # seconds for the whole reply

        def __post_init__(self):
            if self.api not in ("chat", "completion"):
                raise ValueError("api must be chat or completion")

    def __init__(self, config: Config | None = None):
        self.config = config or self.Config()
        self.base_url = (self.config.base_url or os.environ.get("OPENAI_BASE_URL")
                         or "http://127.0.0.1:8000/v1").rstrip("/")
        self.api_key = self.config.api_key or os.environ.get("OPENAI_API_KEY", "")
        self._model_name = self.config.model or os.environ.get("OPENAI_MODEL", "")

    @property
    def context_size(self) -> int:
        return self.config.context_size

    def _client(self):
        import httpx

        c = self.config
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        timeout = httpx.Timeout(c.timeout, connect=c.connect_timeout)
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    @property
    def model(self) -> str:
        if not self._model_name:
            with self._client() as client:
                data = self._request(client, "GET", "/models").json()
            models = [m["id"] for m in data.get("data", [])]
            if not models:
                raise ServiceUnavailable(f"{self.base_url} lists no models; set llm.openai.model")
            self._model_name = models[0]
        return self._model_name

    @contextlib.contextmanager
    def _failures(self, url: str):
        """httpx's errors -> one ServiceUnavailable that names the URL and the limit that was hit."""
        import httpx

        c = self.config
        try:
            yield
        except httpx.ConnectError as exc:
            raise ServiceUnavailable(f"cannot reach the LLM server at {url} ({exc}); is it running?") from None
        except httpx.TimeoutException:
            raise ServiceUnavailable(f"the LLM server at {url} did not answer in time "
                                     f"(connect_timeout={c.connect_timeout}s, timeout={c.timeout}s)") from None
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"the LLM server at {url} failed: {exc}") from None

    def _request(self, client, method: str, path: str, **kwargs):
        url = f"{self.base_url}{path}"
        with self._failures(url):
            response = client.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise ServiceUnavailable(f"the LLM server at {url} answered {response.status_code}: {response.text[:300]}")
        return response

    def reply(self, messages: Sequence[Message]) -> Iterator[str]:
        c = self.config
        body = {"model": self.model, "max_tokens": c.max_tokens, "temperature": c.temperature, "stream": True}
        if c.api == "chat":
            path, key = "/chat/completions", "delta"
            body["messages"] = as_openai(messages)
        else:
            path, key = "/completions", "text"
            body["prompt"], body["stop"] = completion_prompt(messages)
        deadline = time.monotonic() + c.timeout
        with self._client() as client, self._failures(f"{self.base_url}{path}"):
            with client.stream("POST", path, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    if response.status_code == 400 and "context" in response.text.lower():
                        raise UserInputError(f"conversation too long for the server's context: {response.text[:200]}")
                    raise ServiceUnavailable(f"the LLM server at {self.base_url}{path} answered "
                                         f"{response.status_code}: {response.text[:300]}")
                for line in response.iter_lines():
                    if time.monotonic() > deadline:
                        raise ServiceUnavailable(f"the LLM server at {self.base_url} took longer than {c.timeout}s")
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    choice = (json.loads(data).get("choices") or [{}])[0]
                    piece = (choice.get("delta") or {}).get("content") if key == "delta" else choice.get("text")
                    if piece:
                        yield piece
