"""Persona and memory around any LLM stage.

Memory is a rolling window of recent turns plus a running summary of older ones: when the prompt would
not fit the model's context (minus room for the reply), the oldest turns are folded into the summary by
the model itself (falling back to their last words if it gives nothing), so the prompt stays bounded.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from ..errors import UserInputError
from ..stages import LLM
from ..types import Message
from .persona import Persona

log = logging.getLogger(__name__)
SUMMARY_CHARS = 600


@dataclass(frozen=True)
class TurnContext:
    """What a context provider adds to one turn (e.g. a persona's retrieved passages).

    `passages`, best first, join the system prompt after `preface`, as many as fit the context budget;
    `reply`, when set, is the answer decided without the model (nothing relevant was found, say).
    """
    preface: str = ""
    passages: Sequence[str] = ()
    reply: str | None = None


ContextProvider = Callable[[str], TurnContext]


def count_tokens(llm: LLM, text: str) -> int:
    counter = getattr(llm, "count_tokens", None)
    return counter(text) if counter else len(text) // 3 + 1


def context_size(llm: LLM) -> int:
    return int(getattr(llm, "context_size", 2048))


class Conversation:
    def __init__(self, llm: LLM, persona: Persona | None = None, *, reply_tokens: int = 160,
                 max_turns: int = 12, context: ContextProvider | None = None):
        self.llm, self.persona = llm, persona or Persona()
        self.reply_tokens, self.max_turns = reply_tokens, max_turns
        self.history: list[Message] = []
        self.summary = ""
        self.context = context          # called once per turn with the user's text
        self.grounding = ""             # this turn's preface and the passages that fitted
        self.used_passages: list[str] = []

    def reset(self) -> None:
        self.history.clear()
        self.summary = ""

    def _messages(self, user: Message) -> list[Message]:
        system = Message("system", self.persona.system_prompt(self.summary) + self.grounding)
        return [system, *self.persona.example_messages(), *self.history, user]

    def _size(self, messages: list[Message]) -> int:
        return sum(count_tokens(self.llm, m.content) + 4 for m in messages)

    def _ground(self, turn: TurnContext, user: Message, budget: int) -> None:
        """Passages join the system prompt best first while the prompt fits; the rest are left out."""
        self.used_passages = []
        self.grounding = f"\n{turn.preface}" if turn.preface else ""
        for passage in turn.passages:
            before = self.grounding
            self.grounding += f"\n{passage}"
            if self._size(self._messages(user)) > budget and self.used_passages:
                self.grounding = before
                break
            self.used_passages.append(passage)

    def prompt_for(self, text: str, turn: TurnContext | None = None) -> list[Message]:
        """The messages for this turn, folding old turns into the summary until they fit."""
        user = Message("user", text.strip())
        budget = context_size(self.llm) - self.reply_tokens
        self._ground(turn or TurnContext(), user, budget)  # the best passage counts when folding
        folded: list[Message] = []
        while self.history and (len(self.history) > 2 * self.max_turns
                                or self._size(self._messages(user)) > budget):
            folded += self.history[:2]
            del self.history[:2]
        if folded:
            self.summary = self._summarize(folded)
        if turn and turn.passages:
            self._ground(turn, user, budget)
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
        turn = self.context(text) if self.context else None
        if turn is not None and turn.reply is not None:  # decided without the model
            self.used_passages = []
            yield turn.reply
            self.history += [Message("user", text.strip()), Message("assistant", turn.reply, self.persona.name)]
            return
        messages = self.prompt_for(text, turn)
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
