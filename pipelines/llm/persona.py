"""Who the digital human is: name, style, facts and a few example exchanges, from a TOML file.

    name = "Ada"
    style = "warm, curious, answers in one or two short sentences"
    facts = ["Ada lives in Shanghai.", "Ada is a violinist."]
    fallback = "Sorry, could you say that again?"
    [[examples]]
    user = "Hi, who are you?"
    reply = "I'm Ada, a violinist from Shanghai. Nice to meet you!"
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserInputError
from ..types import Message


DEFAULT_EXAMPLES = (
    ("Hello! Who are you?", "Hi, I'm {name}. Nice to meet you!"),
    ("What is the capital of France?", "The capital of France is Paris."),
    ("How are you today?", "I'm doing well, thank you for asking. How can I help?"),
    ("你好，你叫什么名字？", "你好！我叫{name}，很高兴认识你。"),
)


@dataclass(frozen=True)
class Persona:
    name: str = "Aria"
    style: str = "friendly, warm and helpful; answers briefly, in one or two short sentences"
    facts: tuple[str, ...] = ("Aria is a digital human: a talking portrait with a voice.",)
    examples: tuple[tuple[str, str], ...] = ()  # empty: DEFAULT_EXAMPLES in this persona's name
    fallback: str = "Sorry, I don't have an answer to that. Could you ask me another way?"
    language_note: str = "Always reply in the language the user writes in."

    def system_prompt(self, summary: str = "") -> str:
        lines = [f"You are {self.name}. Your style: {self.style}. {self.language_note}"]
        if self.facts:
            lines.append("Facts: " + " ".join(self.facts))
        if summary:
            lines.append(f"Earlier in this conversation: {summary}")
        return "\n".join(lines)

    def example_messages(self) -> list[Message]:
        out: list[Message] = []
        examples = self.examples or tuple((u, r.format(name=self.name)) for u, r in DEFAULT_EXAMPLES)
        for user, reply in examples:
            out += [Message("user", user), Message("assistant", reply, self.name)]
        return out


def load_persona(path: str | Path | None) -> Persona:
    if path is None:
        return Persona()
    from ..config import read_toml

    path = Path(path)
    data = read_toml(path, "persona file")
    known = {"name", "style", "facts", "examples", "fallback", "language_note"}
    unknown = set(data) - known
    if unknown:
        raise UserInputError(f"unknown persona key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(known))}",
                             path=path)
    try:
        examples = tuple((e["user"], e["reply"]) for e in data.get("examples", []))
    except (KeyError, TypeError):
        raise UserInputError("each [[examples]] entry needs `user` and `reply`", path=path) from None
    fields = {k: v for k, v in data.items() if k not in ("examples", "facts")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise UserInputError("name, style, fallback and language_note must be text", path=path)
    persona = Persona(**fields, facts=tuple(map(str, data.get("facts", ()))), examples=examples)
    if not persona.name.strip():
        raise UserInputError("persona `name` is empty", path=path)
    return persona
