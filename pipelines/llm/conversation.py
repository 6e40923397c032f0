"""Persona and memory around any LLM stage.

Memory is a rolling window of recent turns plus a running summary of older ones: when the prompt would
not fit the model's context (minus room for the reply), the oldest turns are folded into the summary by
the model itself (falling back to their last words if it gives nothing), so the prompt stays bounded.
"""
from __future__ import annotations

import logging
from typing import Iterator

from ..errors import UserInputError
from ..stages import LLM
from ..types import Message
from .persona import Persona

log = logging.getLogger(__name__)
SUMMARY_CHARS = 600


def count_tokens(llm: LLM, text: str) -> int:
    counter = getattr(llm, "count_tokens", None)
    return counter(text) if counter else len(text) // 3 + 1


def context_size(llm: LLM) -> int:
    return int(getattr(llm, "context_size", 2048))


class Conversation:
    def __init__(self, llm: LLM, persona: Persona | None = None, *, reply_tokens: int = 160,
                 max_turns: int = 12):
        self.llm, self.persona = llm, persona or Persona()
        self.reply_tokens, self.max_turns = reply_tokens, max_turns
        self.history: list[Message] = []
        self.summary = ""

    def reset(self) -> None:
        self.history.clear()
        self.summary = ""

    def _messages(self, user: Message) -> list[Message]:
        system = Message("system", self.persona.system_prompt(self.summary))
        return [system, *self.persona.example_messages(), *self.history, user]

    def _size(self, messages: list[Message]) -> int:
        return sum(count_tokens(self.llm, m.content) + 4 for m in messages)

    def prompt_for(self, text: str) -> list[Message]:
        """The messages for this turn, folding old turns into the summary until they fit."""
        user = Message("user", text.strip())
        budget = context_size(self.llm) - self.reply_tokens
        folded: list[Message] = []
        while self.history and (len(self.history) > 2 * self.max_turns
                                or self._size(self._messages(user)) > budget):
            folded += self.history[:2]
            del self.history[:2]
        if folded:
            self.summary = self._summarize(folded)
        messages = self._messages(user)
        if self._size(messages) > budget:
            raise UserInputError(
                f"message too long for the model: about {count_tokens(self.llm, text)} tokens, "
                f"its context holds {context_size(self.llm)} including the reply")
        return messages

    def _summarize(self, turns: list[Message]) -> str:
        script = "\n".join(f"{'User' if m.role == 'user' else self.persona.name}: {m.content}" for m in turns)
        if self.summary:
            script = f"(Before that: {self.summary})\n{script}"
        request = [Message("system", "You write short, factual summaries of conversations."),
                   Message("user", f"Summarize this conversation in two sentences:\n{script}")]
        try:
            text = "".join(self.llm.reply(request)).strip()
        except Exception as exc:  # the summary is a nicety; never lose the turn over it
            log.warning("summary failed (%s); keeping the last words instead", exc)
            text = ""
        if not text:
            text = " ".join(script.split())
        return text[-SUMMARY_CHARS:]

    def say(self, text: str) -> Iterator[str]:
        """Stream the reply to `text`, then remember the turn. An empty reply becomes the persona's fallback."""
        if not text.strip():
            raise UserInputError("empty message")
        messages = self.prompt_for(text)
        parts: list[str] = []
        for piece in self.llm.reply(messages):
            if not parts:
                piece = piece.lstrip()
            if piece:
                parts.append(piece)
                yield piece
        reply = "".join(parts).strip()
        if not reply:
            reply = self.persona.fallback
            yield reply
        self.history += [messages[-1], Message("assistant", reply, self.persona.name)]
