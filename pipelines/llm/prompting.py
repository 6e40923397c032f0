"""Few-shot completion prompts for base models (Gemma 3 270M has no chat template).

A base model continues text, so the conversation is written as a script and the model writes the next
line; stop strings end the turn before it starts inventing the user's next line.
"""
from __future__ import annotations

from typing import Sequence

from ..types import Message

USER_LABEL = "User"


def assistant_name(messages: Sequence[Message]) -> str:
    for m in messages:
        if m.role == "assistant" and m.name:
            return m.name
    return "Assistant"


def completion_prompt(messages: Sequence[Message]) -> tuple[str, list[str]]:
    name = assistant_name(messages)
    parts: list[str] = []
    for m in messages:
        if m.role == "system":
            parts.append(m.content.strip() + "\n")
        elif m.role == "user":
            parts.append(f"{USER_LABEL}: {_one_line(m.content)}")
        else:
            parts.append(f"{name}: {_one_line(m.content)}")
    parts.append(f"{name}:")
    stops = [f"\n{USER_LABEL}:", f"{USER_LABEL}:", f"\n{name}:", "\n\n"]
    return "\n".join(parts), stops


def _one_line(text: str) -> str:
    return " ".join(text.split())


def as_openai(messages: Sequence[Message]) -> list[dict]:
    return [{"role": m.role, "content": m.content} for m in messages]
