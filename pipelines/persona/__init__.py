"""A twin that knows its person: a persona built from their own writing (notes, letters, chat exports;
English and Chinese) — a retrieval index over their passages, a style card and example answers in their own
words — and answers grounded in what they wrote, declining what they never wrote about.

    build_persona(texts, name, consent=...)  ->  the folder under personas_dir()
    twin_conversation(llm, name)             ->  a Conversation that retrieves their passages each turn
"""
from .store import (PersonaInfo, PersonaStore, build_persona, delete_persona, list_personas, open_persona,
                    personas_dir)
from .twin import DECLINE, Twin, describe_sources, is_built_persona, twin_conversation

__all__ = ["PersonaInfo", "PersonaStore", "build_persona", "delete_persona", "list_personas", "open_persona",
           "personas_dir", "DECLINE", "Twin", "describe_sources",
           "is_built_persona", "twin_conversation"]
