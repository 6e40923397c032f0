"""Persona and memory around any LLM stage.

Memory is a rolling window of recent turns plus a running summary of older ones: when the prompt would
not fit the model's context (minus room for the reply), the oldest turns are folded into the summary by
the model itself (falling back to their last words if it gives nothing), so the prompt stays bounded.

The prompt always starts with the persona (system prompt and examples), unchanged from turn to turn, so an
engine that can (llama.cpp) keeps its KV state; the summary and a language hint follow it. Replies are held
to the persona's number of sentences here, in code: the model is stopped after the last one.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from ..errors import UserInputError
from ..stages import LLM
from ..text import has_cjk
from ..types import Message
from .persona import Persona
from .prompting import HINT

log = logging.getLogger(__name__)
SUMMARY_CHARS = 600
# a sentence ends at . ! ? followed by a space (not after "Dr." or "U.S."), at 。！？ or at a line break
_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+|(?<=[。！？])[”」』）]*|\n+")
_ABBREV = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|Prof|Jr|Sr|St|vs|etc|e\.g|i\.e|No|Mt|approx)|\b[A-Z])\.$")


def sentence_ends(text: str) -> list[int]:
    """Offsets just after each finished sentence in a streamed text (a final "." with nothing after it
    does not count yet: the next piece may show it was "3.14" or "Dr.")."""
    ends = []
    for m in _END.finditer(text):
        before = text[:m.start()].rstrip("\"')]")
        if m.group().startswith("\n") or before.endswith(("。", "！", "？")):
            if before.strip():
                ends.append(m.end())
        elif not _ABBREV.search(text[:m.start()]):
            ends.append(m.start() + len(m.group().rstrip()))
    return sorted(set(e for e in ends if text[:e].strip()))


def full_sentence_ends(text: str) -> list[int]:
    """Like `sentence_ends`, but a greeting or interjection ("Hello!", "好的。") does not count as a sentence."""
    out, start = [], 0
    for end in sentence_ends(text):
        piece = text[start:end]
        if (len(re.findall(r"[\u4e00-\u9fff]", piece)) >= 4 if has_cjk(piece) else len(piece.split()) >= 3):
            out.append(end)
            start = end
    return out


def language_hint(text: str) -> Message | None:
    """Small models drift into English under an English system prompt: name the language to answer in."""
    if has_cjk(text):
        return Message("system", "Answer in Simplified Chinese (简体中文).", HINT)
    if re.search(r"[A-Za-z]", text) and not re.search(r"[^\x00-\x7f‘’“”—–…]", text):
        return Message("system", "Answer in English.", HINT)
    return None


@dataclass(frozen=True)
class TurnContext:
    """What a context provider adds to one turn (e.g. a persona's retrieved passages).

    `passages`, best first, join the prompt after `preface`, as many as fit the context budget;
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

    def prefix(self) -> list[Message]:
        """The fixed start of every prompt: the persona and its examples (with the hints real turns get, so
        the model sees the examples' answers under the same cue as the user's questions)."""
        return [Message("system", self.persona.system_prompt()), *self._with_hints(self.persona.example_messages())]

    def _messages(self, user: Message) -> list[Message]:
        earlier = [Message("system", f"Earlier in this conversation: {self.summary}")] if self.summary else []
        # this turn's passages go just before the question: the persona prefix and past turns stay byte for
        # byte what llama.cpp has already read, so only the passages and the question are new tokens
        grounding = [Message("system", self.grounding.strip())] if self.grounding.strip() else []
        *past, last = self._with_hints([*self.history, user])
        return [*self.prefix(), *earlier, *past, *grounding, last]

    @staticmethod
    def _with_hints(turns: list[Message]) -> list[Message]:
        """Each user turn after its language hint, past turns too: the prompt is then the last one plus the
        new words, so llama.cpp reuses everything it has already read."""
        out: list[Message] = []
        for m in turns:
            hint = language_hint(m.content) if m.role == "user" else None
            out += [hint, m] if hint else [m]
        return out

    def _size(self, messages: list[Message]) -> int:
        return sum(count_tokens(self.llm, m.content) + 4 for m in messages)

    def _ground(self, turn: TurnContext, user: Message, budget: int) -> None:
        """Passages join the prompt best first while it fits; the rest are left out."""
        self.used_passages = []
        self.grounding = f"{turn.preface}" if turn.preface else ""
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
        while True:  # again after summarizing: the new summary takes room too
            folded: list[Message] = []
            while self.history and (len(self.history) > 2 * self.max_turns
                                    or self._size(self._messages(user)) > budget):
                folded += self.history[:2]
                del self.history[:2]
            if not folded:
                break
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

    def warm(self) -> None:
        """Have the model read this persona's fixed prefix now, so the first reply does not wait for it."""
        self._keep_prefix(now=True)

    def _keep_prefix(self, now: bool = False) -> None:
        """Tell a model that keeps prompt state (llama.cpp) what every prompt starts with."""
        keep = getattr(self.llm, "keep_prefix", None)
        if keep:
            keep(self.prefix(), **({"now": True} if now else {}))   # `now` only when asked: it is optional

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
        self._keep_prefix()
        written = ""
        stream = self.llm.reply(messages)
        try:
            for piece in stream:
                if not written:
                    piece = piece.lstrip()
                ends = full_sentence_ends(written + piece)
                if len(ends) >= self.persona.sentences:  # enough said: stop the model here
                    piece = (written + piece)[:ends[self.persona.sentences - 1]][len(written):].rstrip()
                    if piece:
                        written += piece
                        yield piece
                    break
                if piece:
                    written += piece
                    yield piece
        finally:
            close = getattr(stream, "close", None)
            if close:
                close()
        reply = written.strip()
        if not reply:
            reply = self.persona.fallback
            yield reply
        self.history += [messages[-1], Message("assistant", reply, self.persona.name)]
