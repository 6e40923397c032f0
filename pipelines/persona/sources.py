"""Reading a person's own material: notes and diaries (.txt, .md), letters (.docx) and chat exports
(WhatsApp, WeChat-style text), English and Chinese, into passages of their own words.

A chat export holds other people's words too: only the person's own messages become passages (the speaker
is picked by name); a question someone asked them and their reply becomes an example answer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserInputError
from ..text import sentences_of

TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".docx"}
MAX_CHARS = 480         # a passage: about a paragraph (Chinese packs ~2x the meaning per character)
MAX_CJK_CHARS = 240
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_CJK_OR_MARK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")


def language_of(text: str) -> str:
    """'zh' when Chinese characters make up a real share of the letters, else 'en'."""
    cjk = len(_CJK.findall(text))
    latin = len(re.findall(r"[A-Za-z]", text))
    return "zh" if cjk and cjk * 3 >= latin else "en"


@dataclass
class Passage:
    source: str          # the file it came from
    text: str
    heading: str = ""    # Markdown heading or chat date it sits under: helps retrieval, shown with sources

    @property
    def language(self) -> str:
        return language_of(self.text)


@dataclass
class Material:
    """What one file gave: passages of the person's words, and (question, their reply) pairs from chats."""
    path: Path
    kind: str                                   # note | docx | chat
    passages: list[Passage] = field(default_factory=list)
    exchanges: list[tuple[str, str]] = field(default_factory=list)
    speakers: dict[str, int] = field(default_factory=dict)  # chat: messages per speaker


def find_files(paths: list[str | Path]) -> list[Path]:
    """The readable files among `paths` (folders are searched), each once, in a stable order."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in TEXT_SUFFIXES
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        elif path.is_file():
            if path.suffix.lower() not in TEXT_SUFFIXES:
                raise UserInputError(f"not a text the persona can read (use {', '.join(sorted(TEXT_SUFFIXES))})",
                                     path=path)
            found.append(path)
        else:
            raise UserInputError("no such file or folder", path=path)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise UserInputError(f"no .txt, .md or .docx files in {', '.join(map(str, paths))}")
    return unique


def read_text(path: Path) -> str:
    if path.suffix.lower() == ".docx":
        return read_docx(path)
    data = path.read_bytes()
    for encoding in ("utf-8-sig", "utf-16", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if encoding == "utf-16" and not data[:2] in (b"\xff\xfe", b"\xfe\xff"):
            continue
        return text
    raise UserInputError("not readable as UTF-8, UTF-16 or GB18030 text", path=path)


def read_docx(path: Path) -> str:
    """The paragraphs (and table cells) of a Word file, one per line, blank lines between paragraphs."""
    try:
        import docx
    except ImportError:
        from ..errors import MissingDependency
        raise MissingDependency('reading .docx needs python-docx: pip install "digital-human[persona]"') from None
    try:
        document = docx.Document(str(path))
    except Exception as exc:  # a zip that is not a Word document, or a damaged one
        raise UserInputError(f"not a readable Word document ({exc})", path=path) from None
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text for cell in row.cells))
    return "\n\n".join(line for line in lines if line.strip())


# --- chat exports -------------------------------------------------------------------------------------------
_DATE = r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}"
_TIME = r"\d{1,2}:\d{2}(?::\d{2})?(?:\s?[APap]\.?[Mm]\.?)?"
# WhatsApp: "12/03/2021, 10:15 - Alice: text" (Android) or "[12/03/2021, 10:15:02] Alice: text" (iOS)
_WHATSAPP = re.compile(rf"^\u200e?\[?(?P<date>{_DATE}),?\s+(?P<time>{_TIME})\]?\s*(?:-\s*)?(?P<who>[^:]{{1,40}}?):\s?(?P<text>.*)$")
# WeChat-style exports: "2021-03-12 10:15:02 Alice" on its own line (text below), or with ": text" after it,
# or the name first: "Alice 2021-03-12 10:15:02"; also "Alice (2021-03-12 10:15:02):"
_WECHAT_HEAD = re.compile(rf"^(?P<date>{_DATE})\s+(?P<time>{_TIME})\s+(?P<who>[^:：]{{1,40}}?)\s*(?:[:：]\s?(?P<text>.*))?$")
_WECHAT_NAME_FIRST = re.compile(rf"^(?P<who>[^\d:：()（）][^:：()（）]{{0,39}}?)\s*[(（]?(?P<date>{_DATE})\s+(?P<time>{_TIME})[)）]?\s*[:：]?\s*(?P<text>.*)$")
_SYSTEM = re.compile(r"<Media omitted>|<附件|\[图片\]|\[表情\]|\[语音\]|image omitted|sticker omitted|"
                     r"Messages and calls are end-to-end encrypted|This message was deleted|撤回了一条消息", re.I)


@dataclass
class ChatMessage:
    who: str
    date: str
    text: str


def parse_chat(text: str) -> list[ChatMessage] | None:
    """The messages of a chat export, or None when `text` does not look like one."""
    lines = text.splitlines()
    content = [line for line in lines if line.strip()]
    if len(content) < 3:
        return None
    messages: list[ChatMessage] = []
    heads = 0
    for line in lines:
        stripped = line.strip()
        match = None
        for pattern in (_WHATSAPP, _WECHAT_HEAD, _WECHAT_NAME_FIRST):
            match = pattern.match(stripped)
            if match:
                break
        if match:
            heads += 1
            messages.append(ChatMessage(match["who"].strip(), match["date"], (match["text"] or "").strip()))
        elif messages and stripped:
            messages[-1].text = (messages[-1].text + "\n" + stripped).strip()
    if heads < 3 or heads < 0.3 * len(content):
        return None
    if len({m.who for m in messages}) > max(2, len(messages) / 3):  # timestamped diary lines, not speakers
        return None
    return [m for m in messages if m.text and not _SYSTEM.search(m.text)] or None


def _same_person(a: str, b: str) -> bool:
    a, b = a.casefold().strip(), b.casefold().strip()
    return a == b or (len(b) >= 2 and (a.startswith(b + " ") or a == b.split()[0]))


def chat_material(path: Path, messages: list[ChatMessage], speaker: str) -> Material:
    material = Material(path, "chat")
    for m in messages:
        material.speakers[m.who] = material.speakers.get(m.who, 0) + 1
    mine = [who for who in material.speakers if _same_person(who, speaker)]
    if not mine:
        listed = ", ".join(f"{w} ({n})" for w, n in sorted(material.speakers.items(), key=lambda kv: -kv[1]))
        raise UserInputError(f"a chat export, but nobody in it is called '{speaker}': speakers are {listed}; "
                             "pass --speaker with the person's name as the chat writes it", path=path)
    run: list[str] = []
    run_date, asked = "", ""

    def close_run():
        if run:
            words = _join(run)
            question = asked if re.search(r"[?？]\s*$", asked) else ""
            # the question they were answering says what the passage is about: it heads the passage
            heading = f"{run_date}, asked: {question[:160]}" if question else run_date
            material.passages += [Passage(str(path), chunk, heading) for chunk in chunk_paragraph(words)]
            if question:
                material.exchanges.append((question, words))
            run.clear()

    for m in messages:
        if m.who in mine:
            if run and m.date != run_date:
                close_run()
                asked = ""
            run_date = m.date
            run.append(" ".join(m.text.split()))
        else:
            close_run()
            asked = " ".join(m.text.split())
    close_run()
    return material


# --- notes ----------------------------------------------------------------------------------------------------
def chunk_paragraph(paragraph: str) -> list[str]:
    """A paragraph as one passage, or cut at sentence ends into passages of about MAX_CHARS."""
    limit = MAX_CJK_CHARS if language_of(paragraph) == "zh" else MAX_CHARS
    if len(paragraph) <= limit:
        return [paragraph]
    out, current = [], ""
    for sentence in sentences_in(paragraph):
        if current and len(current) + len(sentence) > limit:
            out.append(current)
            current = ""
        current = f"{current} {sentence}".strip() if not _CJK.match(sentence[:1] or " ") else current + sentence
    if current:
        out.append(current)
    return out


def sentences_in(paragraph: str) -> list[str]:
    # text.sentences_of needs a space after 。 (as English has); Chinese prose has none
    pieces = re.split(r"(?<=[。！？；])", paragraph)
    return [s for piece in pieces for s in sentences_of(piece) if s]


def note_material(path: Path, text: str, kind: str) -> Material:
    """Paragraphs under their Markdown heading; short neighbours merged so a passage says something."""
    material = Material(path, kind)
    heading = ""
    pending = ""
    for block in re.split(r"\n\s*\n", tidy(text)):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        body: list[str] = []
        for line in lines:
            if re.match(r"^#{1,6}\s", line):
                if pending:
                    material.passages += [Passage(str(path), c, heading) for c in chunk_paragraph(pending)]
                    pending = ""
                if body:
                    material.passages += [Passage(str(path), c, heading) for c in chunk_paragraph(_join(body))]
                    body = []
                heading = line.lstrip("#").strip()
            else:
                body.append(re.sub(r"^(?:[-*+]\s+|\d+[.)]\s+|>\s*)", "", line))
        if not body:
            continue
        paragraph = _join(body)
        limit = MAX_CJK_CHARS if language_of(paragraph) == "zh" else MAX_CHARS
        if pending and len(pending) + len(paragraph) < limit // 2:
            pending = _join([pending, paragraph])
            continue
        if pending:
            material.passages += [Passage(str(path), c, heading) for c in chunk_paragraph(pending)]
        pending = paragraph
    if pending:
        material.passages += [Passage(str(path), c, heading) for c in chunk_paragraph(pending)]
    return material


def tidy(text: str) -> str:
    """Line ends and odd spaces made plain; Chinese full-width punctuation is kept (NFKC would change it)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ").replace("\u200b", "")


def _join(parts: list[str]) -> str:
    out = ""
    for part in parts:
        if out and not (_CJK_OR_MARK.match(out[-1]) and _CJK_OR_MARK.match(part[:1])):
            out += " "
        out += part
    return out


def read_material(path: Path, speaker: str) -> Material:
    """One file's passages: a chat export when it looks like one, otherwise notes."""
    text = read_text(path)
    if not text.strip():
        raise UserInputError("the file is empty", path=path)
    if path.suffix.lower() == ".docx":
        return note_material(path, text, "docx")
    messages = parse_chat(text)
    if messages is not None:
        return chat_material(path, messages, speaker)
    return note_material(path, text, "note")
