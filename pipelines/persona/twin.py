"""The twin: a built persona turned into what a Conversation needs — a Persona (name, style card, examples
in their own words) and a per-turn context provider that retrieves their passages.

When nothing relevant is retrieved the provider answers itself ("I don't remember writing about that"), so
declining never depends on a small model's judgement; greetings and thanks are small talk, not questions
about their life, and go to the model without passages.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..llm.conversation import Conversation, TurnContext
from ..llm.persona import Persona
from .retrieve import Hit, Retriever
from .sources import language_of
from .store import PersonaStore, open_persona

TOP_K = 4
DECLINE = {"en": "I don't remember writing about that.", "zh": "我不记得写过这方面的事。"}
_SMALL_TALK = re.compile(
    r"^\W*(hi|hello|hey|hiya|yo|good (morning|afternoon|evening|night)|thanks?( you)?( so much)?|thank you|"
    r"bye|goodbye|see you|nice to (meet|see) you|how are you( doing)?( today)?|how's it going|what's up|"
    r"你好|您好|嗨|哈喽|早上好|晚上好|早安|晚安|谢谢(你|您)?|多谢|再见|拜拜|你好吗|最近好吗|最近怎么样)"
    r"[\s,，!！.。?？~]*(\w{0,12})?[\s!！.。?？~]*$", re.I)
PREFACE = {
    "en": ("Below are passages you wrote yourself. Answer as yourself, in the first person (\"I\"), using only "
           "what these passages say, in your own words and style. If they do not answer the question, say "
           "\"I don't remember writing about that.\" Never invent names, places, dates or events. "
           "Reply in English, in one to three sentences.\nYour own writing:"),
    "zh": ("下面是你自己写过的文字。以你自己的身份、用第一人称“我”回答，只依据这些文字的内容，用你自己的口吻。"
           "如果这些文字回答不了这个问题，就说“我不记得写过这方面的事。”不要编造人名、地名、日期或经历。"
           "请用中文回答，一到三句话。\n你自己写过的文字："),
}
SMALL_TALK = {"en": "This is small talk: answer briefly and warmly, in your style, in English.",
              "zh": "这是寒暄：用你的口吻简短亲切地回应，用中文。"}


def is_small_talk(text: str) -> bool:
    return bool(_SMALL_TALK.match(text.strip()))


@dataclass
class Twin:
    """A persona's retrieval and prompt pieces; `context` is the Conversation hook."""
    store: PersonaStore
    top_k: int = TOP_K
    last_hits: list[Hit] = field(default_factory=list)

    def __post_init__(self):
        encode = None
        if self.store.vectors is not None:
            from .embed import embedder

            encode = embedder().encode
        self.retriever = Retriever(self.store.passages, self.store.vectors, encode)

    @property
    def persona(self) -> Persona:
        s = self.store
        style = s.style.describe() or "natural and direct"
        facts = (f"About you: {s.about}",) if s.about else ()
        return Persona(name=s.speaker or s.name, style=f"you are a real person, not an assistant; {style}", facts=facts,
                       examples=tuple(s.examples) or (("Hi!", "Hi!"),),
                       fallback=DECLINE["en"],
                       language_note="Always reply in the language the user writes in.")

    def __call__(self, text: str) -> TurnContext:
        return self.context(text)

    def context(self, text: str) -> TurnContext:
        language = language_of(text)
        if is_small_talk(text):
            self.last_hits = []
            return TurnContext(preface=SMALL_TALK[language])
        self.last_hits = self.retriever.gather(text, self.top_k)
        if not self.last_hits:
            return TurnContext(reply=DECLINE[language])
        passages = [f"[{n}] " + (f"({h.passage.heading}) " if h.passage.heading else "") + h.passage.text
                    for n, h in enumerate(self.last_hits, 1)]
        return TurnContext(preface=PREFACE[language], passages=passages)

    def used_hits(self, conversation: Conversation) -> list[Hit]:
        """The hits whose passages made it into the last prompt (all of them unless the context was full)."""
        used = set(conversation.used_passages)
        return [h for n, h in enumerate(self.last_hits, 1)
                if any(p.startswith(f"[{n}] ") for p in used)]


def twin_conversation(llm, name: str, **options) -> Conversation:
    """A Conversation that speaks as the built persona NAME, grounded in their writing (its `context` is the
    Twin, which remembers the passages of the last turn)."""
    twin = Twin(open_persona(name))
    return Conversation(llm, twin.persona, context=twin, **options)


def is_built_persona(choice: str | None) -> bool:
    """True when `choice` names a built persona rather than a persona TOML file."""
    from pathlib import Path

    from .store import personas_dir

    if not choice or Path(choice).suffix.lower() == ".toml" or Path(choice).is_file():
        return False
    return (personas_dir() / choice / "persona.toml").is_file()


def describe_sources(conversation: Conversation) -> list[str]:
    """One line per passage the last reply was grounded in (what `dh reply --sources` prints)."""
    twin = conversation.context
    if not isinstance(twin, Twin):
        return []
    hits = twin.used_hits(conversation)
    if not hits:
        return ["(no passage of their writing was relevant: nothing was used)"]
    out = []
    for n, h in enumerate(hits, 1):
        where = h.passage.source + (f" ({h.passage.heading})" if h.passage.heading else "")
        text = h.passage.text if len(h.passage.text) <= 160 else h.passage.text[:157] + "..."
        out.append(f"[{n}] {where}  keyword {h.keyword:.2f}, semantic {h.semantic:.2f}\n    {text}")
    return out
