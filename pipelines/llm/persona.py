"""Who the digital human is: name, style, facts and a few example exchanges, from a TOML file.

    name = "Ada"
    style = "warm and curious"
    facts = ["Ada lives in Shanghai.", "Ada is a violinist."]
    sentences = 2                      # replies are cut after this many sentences, in code
    fallback = "Sorry, could you say that again?"
    [[examples]]
    user = "Hi, who are you?"
    reply = "I'm Ada, a violinist from Shanghai. Nice to meet you!"

The system prompt is honest by construction: who the persona is comes only from its facts; the model is told
not to invent a maker, a history or facts, to say "I don't know" rather than guess, and to correct a
question's false premise.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserInputError
from ..types import Message


DEFAULT_EXAMPLES = (
    ("Hello! Who are you?", "Hi, I'm {name}, a digital human. Nice to meet you!"),
    ("What is the capital of France?", "The capital of France is Paris."),
    ("Who made you?", "I don't know who made me. I'm {name}, and I'm happy to help."),
    ("Why is the Moon made of cheese?", "It isn't: the Moon is made of rock."),
    ("Tell me about yourself.", "I'm {name}, a digital human: a talking portrait with a voice. I love a good chat!"),
    ("I finally finished painting my kitchen.", "Well done! That must feel great. What colour did you choose?"),
    ("你好，你叫什么名字？", "你好！我叫{name}，很高兴认识你。"),
)

RULES = (
    "Reply to what the user just said, correctly and directly, in at most {n} short {sentence}.",
    "If the user states something, quotes something or tells you how they feel, react to it in your own words, "
    "like a friend would. Never repeat their words back.",
    "If asked what you think, say it in a few kind words; do not talk about being an AI.",
    "State only facts you are sure of. If you are not sure of a fact, say you don't know. Never guess.",
    "Check what the question takes for granted. If it is false, say so first, then give the true fact.",
    "Everything about yourself comes from the facts above. Nobody told you who made you: never name a creator, "
    "company, age, place or life story that the facts do not state.",
)


@dataclass(frozen=True)
class Persona:
    name: str = "Alex"  # a name for any face and voice
    style: str = "friendly, warm and helpful; speaks plainly, like in a spoken conversation"
    facts: tuple[str, ...] = ("{name} is a digital human: a talking portrait with a voice.",)  # {name}: the name
    sentences: int = 2             # the most sentences a reply may have; the rest is cut off in code
    examples: tuple[tuple[str, str], ...] = ()  # empty: DEFAULT_EXAMPLES in this persona's name
    fallback: str = "Sorry, I don't have an answer to that. Could you ask me another way?"
    language_note: str = "Reply in the language of the user's last message: Chinese to Chinese, English to English."

    def system_prompt(self) -> str:
        """Fixed for a persona (the conversation's summary travels separately), so its KV state can be kept."""
        lines = [f"You are {self.name}, talking with a user out loud."]
        if self.facts:
            lines.append("Facts about you: " + " ".join(f.replace("{name}", self.name) for f in self.facts))
        lines.append(f"Your style: {self.style}.")
        sentence = "sentence" if self.sentences == 1 else "sentences"
        lines += [f"- {rule.format(n=self.sentences, sentence=sentence)}" for rule in RULES]
        lines.append(f"- {self.language_note}")
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
    known = {"name", "style", "facts", "examples", "fallback", "language_note", "sentences"}
    unknown = set(data) - known
    if unknown:
        raise UserInputError(f"unknown persona key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(known))}",
                             path=path)
    try:
        examples = tuple((e["user"], e["reply"]) for e in data.get("examples", []))
    except (KeyError, TypeError):
        raise UserInputError("each [[examples]] entry needs `user` and `reply`", path=path) from None
    fields = {k: v for k, v in data.items() if k not in ("examples", "facts", "sentences")}
    if not all(isinstance(v, str) for v in fields.values()):
        raise UserInputError("name, style, fallback and language_note must be text", path=path)
    sentences = data.get("sentences", Persona.sentences)
    if not isinstance(sentences, int) or isinstance(sentences, bool) or sentences < 1:
        raise UserInputError("`sentences` must be a whole number of at least 1", path=path)
    persona = Persona(**fields, facts=tuple(map(str, data.get("facts", ()))), examples=examples,
                      sentences=sentences)
    if not persona.name.strip():
        raise UserInputError("persona `name` is empty", path=path)
    return persona
