"""The persona folder: everything derived from a person's writing, in one place that `delete` removes whole.

    $DH_PERSONAS_DIR/NAME/            (default ~/.local/share/digital-human/personas/NAME, beside voices/)
      persona.toml      name, one-line about, chat speaker name, consent (who agreed, when), source files
      style.toml        the style card: computed, editable (a rebuild keeps an edited card)
      examples.toml     example answers in their own words: editable likewise
      index/passages.json, index/vectors.npy   the retrieval index and the bookkeeping of what built it

The index remembers a hash of every source file: when a note changes, the next use (or build) re-reads the
sources and re-embeds only passages whose text is new. Private writing: the web app never serves this folder.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import UserInputError
from ..jobs import atomic_write
from ..stages import Progress
from . import embed
from .sources import Material, Passage, find_files, language_of, read_material, sentences_in
from .style import StyleCard, compute_style

log = logging.getLogger(__name__)
_NAME = re.compile(r"^[^\W_][\w.-]{0,63}$")
EXAMPLES_WANTED = 4


def personas_dir() -> Path:
    return Path(os.environ.get("DH_PERSONAS_DIR") or Path.home() / ".local" / "share" / "digital-human" / "personas")


def persona_folder(name: str) -> Path:
    if not _NAME.match(name or ""):
        raise UserInputError(f"'{name}' is not a usable persona name (letters, digits, '.', '-' and '_'; "
                             "it starts with a letter or digit)")
    return personas_dir() / name


def _hash_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:32]


def _hash_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _toml_str(value) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


@dataclass
class PersonaStore:
    name: str
    folder: Path
    about: str = ""
    speaker: str = ""
    consent: dict = field(default_factory=dict)
    sources: list[str] = field(default_factory=list)
    style: StyleCard = field(default_factory=StyleCard)
    examples: list[tuple[str, str]] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    vectors: np.ndarray | None = None
    embedder: str = ""

    @property
    def index_dir(self) -> Path:
        return self.folder / "index"

    def index_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.index_dir.glob("*") if p.is_file())


# --- writing ------------------------------------------------------------------------------------------------
def _write_persona_toml(store: PersonaStore) -> None:
    lines = ["# A persona built from a person's own writing by `dh persona build`. Private: never shared.",
             f"name = {_toml_str(store.name)}", f"about = {_toml_str(store.about)}",
             f"speaker = {_toml_str(store.speaker)}",
             "sources = [" + ", ".join(_toml_str(s) for s in store.sources) + "]", "", "[consent]"]
    lines += [f"{k} = {_toml_str(v)}" for k, v in store.consent.items()]
    atomic_write(store.folder / "persona.toml", "\n".join(lines) + "\n")


def _examples_toml(examples: list[tuple[str, str]]) -> str:
    lines = ["# Example answers taken from the person's own words (a question they were asked, what they said).",
             "# Edit freely: a rebuild keeps edited examples. They show the model how this person answers.", ""]
    for user, reply in examples:
        lines += ["[[examples]]", f"user = {_toml_str(user)}", f"reply = {_toml_str(reply)}", ""]
    return "\n".join(lines)


def _keep_or_write(path: Path, text: str, last_written: str | None) -> bool:
    """Write a computed file unless the user edited the one we wrote last time; True if written."""
    if path.is_file() and last_written and _hash_text(path.read_text(encoding="utf-8")) != last_written:
        log.info("%s was edited by hand: keeping it", path)
        return False
    atomic_write(path, text)
    return True


def pick_examples(materials: list[Material], passages: list[Passage]) -> list[tuple[str, str]]:
    """Up to EXAMPLES_WANTED (question, answer) pairs in the person's own words, both languages if present.

    Chats give real ones (someone asked, they answered); notes give "Tell me about <heading>" and the first
    sentences under that heading.
    """
    candidates: list[tuple[str, str]] = []
    for m in materials:
        candidates += [(q, a) for q, a in m.exchanges if 8 <= len(a) <= 280 and len(q) <= 200]
    seen_headings: set[str] = set()
    for p in passages:
        if p.heading and p.source != "about" and p.heading not in seen_headings and not re.match(r"^\d", p.heading):
            seen_headings.add(p.heading)
            answer = "".join(s if p.language == "zh" else s + " " for s in sentences_in(p.text)[:2]).strip()
            question = f"说说{p.heading}吧。" if p.language == "zh" else f"Tell me about {p.heading.lower()}."
            candidates.append((question, answer[:280]))
    chosen: list[tuple[str, str]] = []
    for language in ("en", "zh", "en", "zh"):
        for pair in candidates:
            if pair not in chosen and language_of(pair[1]) == language:
                chosen.append(pair)
                break
    for pair in candidates:
        if len(chosen) >= EXAMPLES_WANTED:
            break
        if pair not in chosen:
            chosen.append(pair)
    return chosen[:EXAMPLES_WANTED]


def _index(store: PersonaStore, progress: Progress | None, use_embeddings: bool) -> dict:
    """Read every source, rebuild passages, embed only the new ones; writes index/ and returns its meta."""
    report = progress or (lambda f, m="": None)
    files = [Path(s) for s in store.sources]
    materials, hashes = [], {}
    for i, path in enumerate(files):
        report(0.05 + 0.35 * i / max(len(files), 1), f"reading {path.name}")
        if not path.is_file():
            raise UserInputError("a source of this persona is gone; give the texts again with --update, "
                                 "or delete the persona", path=path)
        hashes[str(path)] = _hash_file(path)
        materials.append(read_material(path, store.speaker or store.name))
    passages = ([Passage("about", store.about, "about me")] if store.about else [])
    passages += [p for m in materials for p in m.passages]
    if not passages:
        raise UserInputError(f"no text found in {', '.join(store.sources)}")
    keys = [_hash_text(p.heading + "\n" + p.text) for p in passages]
    old = _read_meta(store)
    old_vectors = _read_vectors(store)
    embedder_name = ""
    vectors = None
    if use_embeddings and embed.available():
        embedder_name = embed.MODEL_NAME
        known = {}
        if old and old_vectors is not None and old.get("embedder") == embedder_name:
            known = {k: old_vectors[i] for i, k in enumerate(old.get("keys", [])) if i < len(old_vectors)}
        missing = [i for i, k in enumerate(keys) if k not in known]
        report(0.45, f"embedding {len(missing)} new passage(s) of {len(keys)}")
        fresh = embed.embedder().encode([_embed_text(passages[i]) for i in missing]) if missing else None
        for n, i in enumerate(missing):
            known[keys[i]] = fresh[n]
        vectors = np.stack([known[k] for k in keys]).astype(np.float16)
    elif use_embeddings:
        log.warning("%s is not installed: keyword search only", embed.PACKAGE)
    store.index_dir.mkdir(parents=True, exist_ok=True)
    if vectors is not None:
        buffer = io.BytesIO()
        np.save(buffer, vectors)
        atomic_write(store.index_dir / "vectors.npy", buffer.getvalue())
    else:
        (store.index_dir / "vectors.npy").unlink(missing_ok=True)
    report(0.85, "style card and examples")
    openings = [p.text for m in materials if m.kind == "chat" for p in m.passages]
    card = compute_style([p for p in passages if p.source != "about"], openings)
    examples = pick_examples(materials, passages)
    style_written = _keep_or_write(store.folder / "style.toml", card.to_toml(), (old or {}).get("style_hash"))
    examples_written = _keep_or_write(store.folder / "examples.toml", _examples_toml(examples),
                                      (old or {}).get("examples_hash"))
    meta = {"built": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "sources": hashes,
            "embedder": embedder_name, "keys": keys, "about": store.about, "speaker": store.speaker,
            "passages": [{"source": p.source, "heading": p.heading, "text": p.text} for p in passages],
            "style_hash": _hash_text(card.to_toml()) if style_written else (old or {}).get("style_hash"),
            "examples_hash": (_hash_text(_examples_toml(examples)) if examples_written
                              else (old or {}).get("examples_hash"))}
    atomic_write(store.index_dir / "passages.json", json.dumps(meta, ensure_ascii=False, indent=1))
    report(1.0, f"{len(passages)} passages")
    return meta


def _embed_text(p: Passage) -> str:
    return f"{p.heading}: {p.text}" if p.heading and p.heading != "about me" else p.text


def _read_meta(store: PersonaStore) -> dict | None:
    path = store.index_dir / "passages.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return None


def _read_vectors(store: PersonaStore) -> np.ndarray | None:
    path = store.index_dir / "vectors.npy"
    return np.load(path) if path.is_file() else None


# --- the public verbs ---------------------------------------------------------------------------------------
def build_persona(texts: list[str | Path], name: str, *, about: str = "", consent: str = "", speaker: str = "",
                  update: bool = False, use_embeddings: bool = True,
                  progress: Progress | None = None) -> PersonaStore:
    """Make (or with `update`, refresh and extend) the persona NAME from the person's texts."""
    folder = persona_folder(name)
    existing = (folder / "persona.toml").is_file()
    if existing and not update:
        raise UserInputError(f"persona '{name}' already exists; pass --update to rebuild it from these texts "
                             f"(edited style and examples are kept), or `dh persona delete {name}` first",
                             path=folder)
    previous = open_persona(name, refresh=False) if existing else None
    if not consent.strip() and not (previous and previous.consent.get("given_by")):
        raise UserInputError("--consent is required: who agreed that their writing becomes this persona, when "
                             "and how (it is stored with the persona)")
    files = [str(f) for f in find_files(list(texts))] if texts else []
    if previous:
        files = list(dict.fromkeys(previous.sources + files))
    if not files:
        raise UserInputError("give the person's texts: files or folders of .txt, .md, .docx or chat exports")
    store = PersonaStore(name=name, folder=folder, about=about.strip() or (previous.about if previous else ""),
                         speaker=speaker.strip() or (previous.speaker if previous else ""), sources=files)
    store.consent = dict(previous.consent) if previous else {}
    if consent.strip():
        store.consent = {"given_by": consent.strip(),
                         "recorded": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _index(store, progress, use_embeddings)
    except BaseException:
        if not existing:  # a failed first build leaves nothing of the person's writing behind
            shutil.rmtree(folder, ignore_errors=True)
        raise
    _write_persona_toml(store)
    return open_persona(name, refresh=False)


def open_persona(name: str, *, refresh: bool = True, progress: Progress | None = None) -> PersonaStore:
    """The persona NAME with its index; with `refresh`, re-index first if a source file changed."""
    folder = persona_folder(name)
    path = folder / "persona.toml"
    if not path.is_file():
        known = ", ".join(p.name for p in list_personas()) or "none yet"
        raise UserInputError(f"no persona called '{name}' (built: {known}; make one with dh persona build)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserInputError(f"unreadable persona file ({exc})", path=path) from None
    store = PersonaStore(name=str(data.get("name", name)), folder=folder, about=str(data.get("about", "")),
                         speaker=str(data.get("speaker", "")), consent=dict(data.get("consent", {})),
                         sources=[str(s) for s in data.get("sources", [])])
    meta = _read_meta(store)
    if refresh and meta is not None and stale_sources(meta):
        log.info("persona %s: sources changed, re-indexing", name)
        meta = _index(store, progress, use_embeddings=bool(meta.get("embedder")))
    if meta is None:
        raise UserInputError("the persona's index is missing; rebuild it with dh persona build --update",
                             path=store.index_dir)
    store.passages = [Passage(p["source"], p["text"], p.get("heading", "")) for p in meta["passages"]]
    store.embedder = meta.get("embedder", "")
    store.vectors = _read_vectors(store) if store.embedder else None
    store.style = _read_style(folder / "style.toml")
    store.examples = _read_examples(folder / "examples.toml")
    return store


def stale_sources(meta: dict) -> list[str]:
    """Source files whose content differs from what the index was built from (a missing file counts)."""
    out = []
    for source, digest in meta.get("sources", {}).items():
        path = Path(source)
        if not path.is_file() or _hash_file(path) != digest:
            out.append(source)
    return out


def _read_style(path: Path) -> StyleCard:
    if not path.is_file():
        return StyleCard()
    try:
        return StyleCard.from_dict(tomllib.loads(path.read_text(encoding="utf-8")))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, TypeError) as exc:
        raise UserInputError(f"unreadable style card ({exc})", path=path) from None


def _read_examples(path: Path) -> list[tuple[str, str]]:
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return [(str(e["user"]), str(e["reply"])) for e in data.get("examples", [])]
    except (tomllib.TOMLDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise UserInputError(f"unreadable examples file: each [[examples]] needs user and reply ({exc})",
                             path=path) from None


@dataclass(frozen=True)
class PersonaInfo:
    name: str
    folder: Path
    about: str
    passages: int
    sources: int
    consent: str


def list_personas() -> list[PersonaInfo]:
    root = personas_dir()
    out = []
    for folder in sorted(root.glob("*/persona.toml")) if root.is_dir() else []:
        folder = folder.parent
        try:
            data = tomllib.loads((folder / "persona.toml").read_text(encoding="utf-8"))
            meta = json.loads((folder / "index" / "passages.json").read_text(encoding="utf-8"))
        except (OSError, ValueError, tomllib.TOMLDecodeError):
            continue
        out.append(PersonaInfo(folder.name, folder, str(data.get("about", "")), len(meta.get("passages", [])),
                               len(data.get("sources", [])), str(data.get("consent", {}).get("given_by", ""))))
    return out


def delete_persona(name: str) -> Path:
    """Remove the persona's folder: index, vectors, style card, examples, consent. The source texts stay.
    The LLM's saved prompt-prefix states go too: a twin's prefix holds its examples (the person's own words) as
    tokens and KV cache, and those files cannot be told apart, so the whole cache is dropped (it is rebuilt)."""
    from ..cache import cache_dir

    folder = persona_folder(name)
    if not folder.is_dir():
        raise UserInputError(f"no persona called '{name}'", path=folder)
    shutil.rmtree(folder)
    for state in cache_dir("llm-prefix").glob("*.state"):
        state.unlink(missing_ok=True)
    return folder
