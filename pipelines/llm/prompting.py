"""Few-shot completion prompts for base models (Gemma 3 270M has no chat template).

A base model continues text, so the conversation is written as a script and the model writes the next
line; stop strings end the turn before it starts inventing the user's next line.
"""
from __future__ import annotations

from typing import Sequence

from ..types import Message

USER_LABEL = "User"
HINT = "language-hint"  # the name on the system message that says which language to answer in


def assistant_name(messages: Sequence[Message]) -> str:
    for m in messages:
        if m.role == "assistant" and m.name:
            return m.name
    return "Assistant"


def completion_prompt(messages: Sequence[Message]) -> tuple[str, list[str]]:
    """System messages (persona, summary, the latest language hint) head the script, the turns follow one
    line each; a base model copies any other line it sees inside the script, so nothing else goes there."""
    name = assistant_name(messages)
    hints = [m.content.strip() for m in messages if m.role == "system" and m.name == HINT]
    header = [m.content.strip() for m in messages if m.role == "system" and m.name != HINT] + hints[-1:]
    parts: list[str] = ["\n".join(header) + "\n"] if header else []
    for m in messages:
        if m.role == "user":
            parts.append(f"{USER_LABEL}: {_one_line(m.content)}")
        elif m.role == "assistant":
            parts.append(f"{name}: {_one_line(m.content)}")
    parts.append(f"{name}:")
    stops = [f"\n{USER_LABEL}:", f"{USER_LABEL}:", f"\n{name}:", "\n\n", "\n"]  # a reply is one line
    return "\n".join(parts), stops


def _one_line(text: str) -> str:
    return " ".join(text.split())


def as_openai(messages: Sequence[Message]) -> list[dict]:
    return [{"role": m.role, "content": m.content} for m in messages]
