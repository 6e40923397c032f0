"""Reading books for narration: EPUB 2/3, plain text and Markdown -> title, author, language, cover, chapters.

Chapters come from the book's own table of contents (EPUB nav or NCX), not from how the EPUB happens to be cut
into files: a TOC entry starts a section at its anchor, wherever that falls. Text files are cut at headings and
"Chapter N" lines. What a listener does not want read aloud (Project Gutenberg header and licence, table of
contents, title page, footnotes, page numbers) is left out, and every skipped section is listed with the
reason, so `keep=` can bring any of it back.

Each chapter is a list of paragraphs of plain text (headings included, all-caps headings turned into
ordinary capitalisation so the voice does not spell them letter by letter).
"""
from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Iterable
from urllib.parse import unquote

from .errors import MissingDependency, UserInputError
from .text import clean_text, has_cjk, sentences_of

TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown"}
SKIP_TITLES = [  # (pattern on a section's title, reason)
    (r"project gutenberg|gutenberg license|gutenberg licence|full license", "Project Gutenberg boilerplate"),
    (r"^(table of )?contents$|^toc$|^目录$|^目錄$", "table of contents"),
    (r"^(cover|cover page|title page|titlepage|copyright( page)?|imprint|colophon)$", "front matter"),
    (r"^(foot ?notes|end ?notes|notes)$", "footnotes"),
    (r"^(index|illustrations|list of illustrations)$", "back matter"),
]
SKIP_EPUB_TYPES = {"toc": "table of contents", "titlepage": "front matter", "copyright-page": "front matter",
                   "cover": "front matter", "footnotes": "footnotes", "endnotes": "footnotes",
                   "rearnotes": "footnotes", "index": "back matter", "landmarks": "table of contents"}
_ROMAN = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}


@dataclass(frozen=True)
class Section:
    """A stretch of the book between two TOC entries (or headings). `skip` says why it is not narrated."""

    title: str
    paragraphs: tuple[str, ...]
    skip: str | None = None
    source: str = ""          # file#anchor (EPUB) or line number (text), for messages
    removed: tuple[str, ...] = ()   # footnotes and page numbers taken out of this section, listed

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def chars(self) -> int:
        return sum(len(p) for p in self.paragraphs)

    def sentences(self) -> list[list[str]]:
        """The sentences of each paragraph, in order (what the narrator speaks)."""
        return [sentences_of(p) for p in self.paragraphs]


@dataclass(frozen=True)
class Book:
    path: Path
    title: str
    author: str
    language: str             # BCP-47-ish: "en", "zh"...
    sections: tuple[Section, ...]
    cover: bytes | None = None
    encoding: str = "utf-8"
    kind: str = "epub"        # epub | txt | md

    @property
    def chapters(self) -> tuple[Section, ...]:
        return tuple(s for s in self.sections if s.skip is None)

    @property
    def skipped(self) -> tuple[Section, ...]:
        return tuple(s for s in self.sections if s.skip is not None)

    @property
    def chars(self) -> int:
        return sum(c.chars for c in self.chapters)


# --- shared ---

def _skip_reason(title: str) -> str | None:
    low = " ".join(title.lower().split())
    for pattern, reason in SKIP_TITLES:
        if re.search(pattern, low):
            return reason
    return None


def roman_to_int(token: str) -> int | None:
    token = token.upper()
    if not token or any(ch not in _ROMAN for ch in token):
        return None
    total = 0
    for a, b in zip(token, token[1:] + " "):
        value = _ROMAN[a]
        total += -value if b != " " and _ROMAN[b] > value else value
    return total if total > 0 else None


_CHAPTER_NUM = re.compile(r"\b(chapter|part|book|volume)\s+([IVXLCDM]+)\b[.:]?", re.IGNORECASE)


def spoken_heading(text: str) -> str:
    """'CHAPTER IV. START IN LIFE' -> 'Chapter 4: Start in life.': all caps would be read as acronyms."""
    letters = [c for c in text if c.isalpha()]
    if len(letters) > 3 and sum(c.isupper() for c in letters) / len(letters) > 0.8:
        text = text.lower()
        text = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)

    def numeral(m: re.Match) -> str:
        value = roman_to_int(m.group(2))
        if not value:
            return m.group(0)
        more = bool(m.string[m.end():].strip())   # "Chapter 4: Title", one sentence, not "Chapter 4." + "Title."
        return f"{m.group(1).capitalize()} {value}{':' if more else '.'}"
    text = _CHAPTER_NUM.sub(numeral, text)
    text = re.sub(r"\b[A-Z]{4,}\b", lambda m: m.group(0).capitalize(), text)
    if text and not re.search(r"[.!?。！？:;]$", text):
        text += "。" if has_cjk(text) else "."
    return " ".join(text.split())


def _finish(path: Path, title: str, author: str, language: str, sections: list[Section], cover, encoding, kind,
            keep: Iterable[str]) -> Book:
    keep = [k.lower() for k in keep]
    out = []
    for section in sections:
        if not section.paragraphs:
            continue
        if section.skip and ("all" in keep or any(k in section.title.lower() or k == section.skip for k in keep)):
            section = replace(section, skip=None)
        out.append(section)
    book = Book(path, title or path.stem, author, language or _guess_language(out), tuple(out), cover, encoding,
                kind)
    if not book.chapters:
        listed = "; ".join(f"{s.title!r} ({s.skip})" for s in book.skipped)
        raise UserInputError("has no chapters with text to narrate" + (f" (skipped: {listed})" if listed else ""),
                             path=path)
    return book


def _guess_language(sections: Iterable[Section]) -> str:
    sample = "".join(s.text for s in sections)[:20000]
    cjk = sum(1 for ch in sample if has_cjk(ch))
    letters = sum(1 for ch in sample if ch.isalpha())
    return "zh" if letters and cjk / letters > 0.3 else "en"


def read_book(path: str | Path, *, keep: Iterable[str] = ()) -> Book:
    """Read an .epub, .txt or .md book. `keep`: titles (substrings) or reasons of skipped sections to narrate
    anyway, or "all"."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError("book not found", path=path)
    suffix = path.suffix.lower()
    if suffix == ".epub" or (suffix not in TEXT_SUFFIXES and zipfile.is_zipfile(path)):
        return read_epub(path, keep=keep)
    return read_text_book(path, keep=keep)


# --- EPUB ---

_BLOCK = {"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "pre", "tr", "dt", "dd", "section",
          "article", "header", "footer", "figcaption", "table", "ul", "ol", "dl", "body", "aside", "nav", "hr",
          "figure", "main", "td", "th"}
_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
_DROP = {"script", "style", "head", "title", "svg", "math", "rt", "rp", "img", "audio", "video", "object",
         "iframe", "noscript"}


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _attr(el, name: str) -> str:
    for key, value in el.attrib.items():
        if key == name or key.endswith("}" + name):
            return value or ""
    return ""


def _removed_kind(el) -> str | None:
    """Why an element inside a chapter is not read: footnotes, note markers, page numbers, boilerplate."""
    tag = _local(el.tag)
    types = set(_attr(el, "type").lower().split()) | set(_attr(el, "role").lower().replace("doc-", "").split())
    cls = _attr(el, "class").lower()
    if types & {"footnote", "endnote", "rearnote", "note", "footnotes", "endnotes", "rearnotes"}:
        return "footnote"
    if types & {"noteref", "biblioref"} or (tag == "a" and re.search(r"noteref|footnote|fnref", cls)):
        return "note marker"
    if types & {"pagebreak"} or re.search(r"\bpagenum\b|\bpage-?number\b|\bpageno\b", cls):
        return "page number"
    if re.search(r"\bfootnotes?\b|\bendnotes?\b", cls) or (tag == "aside"):
        return "footnote"
    if tag == "sup" and re.fullmatch(r"\s*\[?\d{1,3}\]?\s*", "".join(el.itertext())) and el.find(".//*") is not None:
        return "note marker"
    return None


class _Flattener:
    """Walks XHTML documents into paragraphs, remembering where each element id falls (for TOC anchors)."""

    def __init__(self):
        self.paragraphs: list[tuple[str, bool, bool]] = []   # (text, is_heading, is_boilerplate)
        self.anchors: dict[tuple[str, str], int] = {}    # (file, id) -> paragraph index
        self.removed: list[tuple[int, str, str]] = []    # (paragraph index, kind, text)
        self.types: dict[int, set[str]] = {}             # paragraph index -> epub:type of enclosing sections
        self._buf: list[str] = []
        self._heading = False
        self._boiler = 0

    def flush(self) -> None:
        text = " ".join("".join(self._buf).split())
        self._buf = []
        if text:
            self.paragraphs.append((text, self._heading, self._boiler > 0))
        self._heading = False

    def document(self, name: str, root) -> None:
        self.anchors.setdefault((name, ""), len(self.paragraphs))
        body = next((el for el in root.iter() if _local(el.tag) == "body"), root)
        self._walk(name, body, set())
        self.flush()

    def _walk(self, name: str, el, types: set[str]) -> None:
        tag = _local(el.tag)
        if not tag or tag in _DROP:
            self._tail(el)
            return
        kind = _removed_kind(el)
        if kind:
            if tag in _BLOCK:   # a footnote block ends the paragraph; a note marker inside one does not
                self.flush()
            text = " ".join("".join(el.itertext()).split())
            if text:
                self.removed.append((len(self.paragraphs), kind, text))
            ident = _attr(el, "id")
            if ident:
                self.anchors.setdefault((name, ident), len(self.paragraphs))
            for sub in el.iter():
                sid = _attr(sub, "id") if isinstance(sub.tag, str) else ""
                if sid:
                    self.anchors.setdefault((name, sid), len(self.paragraphs))
            self._tail(el)
            return
        block = tag in _BLOCK
        if block:
            self.flush()
        ident = _attr(el, "id")
        if ident:   # an anchor mid-paragraph starts its section with that paragraph
            self.anchors.setdefault((name, ident), len(self.paragraphs))
        boiler = bool(re.search(r"pg-boilerplate", _attr(el, "class"))) or ident in ("pg-header", "pg-footer")
        self._boiler += boiler
        etype = set(_attr(el, "type").lower().split())
        types = types | etype if etype else types
        if tag in _HEADINGS:
            self._heading = True
        if tag == "br":
            self._buf.append(" ")
        if el.text:
            self._buf.append(el.text)
        for child in el:
            self._walk(name, child, types)
        if block:
            self.flush()
            if types and self.paragraphs:
                self.types.setdefault(len(self.paragraphs) - 1, set()).update(types)
        if boiler:
            self.flush()
        self._boiler -= boiler
        self._tail(el)

    def _tail(self, el) -> None:
        if el.tail:
            self._buf.append(el.tail)


def _check_drm(path: Path, archive: zipfile.ZipFile) -> None:
    names = set(archive.namelist())
    if "META-INF/rights.xml" in names:
        raise UserInputError("is DRM-protected (Adobe ADEPT rights.xml): it cannot be read aloud; "
                             "use a DRM-free copy", path=path)
    if "META-INF/encryption.xml" in names:
        xml = archive.read("META-INF/encryption.xml").decode("utf-8", "replace")
        algorithms = re.findall(r'Algorithm="([^"]+)"', xml)
        font_only = all("embedding" in a or "pdf/enc#RC" in a for a in algorithms)
        targets = re.findall(r'URI="([^"]+)"', xml)
        if not font_only or any(not re.search(r"\.(otf|ttf|woff2?)$", t, re.I) for t in targets):
            raise UserInputError("is DRM-protected (its text is encrypted, META-INF/encryption.xml): it cannot "
                                 "be read aloud; use a DRM-free copy", path=path)


def _flatten_toc(toc, depth: int = 0) -> list[tuple[str, str, int, bool]]:
    """(title, href, depth, has_children) in reading order, from ebooklib's nested toc."""
    out = []
    for entry in toc:
        if isinstance(entry, (tuple, list)) and len(entry) == 2:
            head, children = entry
            out.append((getattr(head, "title", "") or "", getattr(head, "href", "") or "", depth, True))
            out += _flatten_toc(children, depth + 1)
        else:
            out.append((getattr(entry, "title", "") or "", getattr(entry, "href", "") or "", depth, False))
    return out


def _epub_meta(book, name: str) -> str:
    try:
        values = book.get_metadata("DC", name)
    except Exception:
        return ""
    return " & ".join(str(v[0]).strip() for v in values if v and v[0]) if values else ""


def _epub_cover(book) -> bytes | None:
    import ebooklib

    items = list(book.get_items_of_type(ebooklib.ITEM_COVER))
    try:
        meta = book.get_metadata("OPF", "cover")
        for _, attrs in meta or []:
            item = book.get_item_with_id(attrs.get("content", ""))
            if item is not None:
                items.append(item)
    except Exception:
        pass
    items += [i for i in book.get_items_of_type(ebooklib.ITEM_IMAGE) if "cover" in i.get_name().lower()]
    for item in items:
        if item.media_type and item.media_type.startswith("image/"):
            return item.get_content()
    return None


def read_epub(path: Path, *, keep: Iterable[str] = ()) -> Book:
    try:
        import ebooklib
        from ebooklib import epub
        from lxml import etree
    except ImportError as exc:
        raise MissingDependency("reading EPUB needs ebooklib: pip install 'digital-human[audiobook]'") from exc
    path = Path(path)
    if path.stat().st_size == 0:
        raise UserInputError("is empty (0 bytes), not an EPUB", path=path)
    try:
        with zipfile.ZipFile(path) as archive:
            _check_drm(path, archive)
            if archive.testzip() is not None:
                raise zipfile.BadZipFile("a file inside fails its CRC check")
    except (zipfile.BadZipFile, OSError) as exc:
        raise UserInputError(f"is not a readable EPUB (broken zip archive: {exc})", path=path) from exc
    try:
        book = epub.read_epub(str(path), options={"ignore_ncx": False})
    except Exception as exc:  # ebooklib raises bare EpubException/KeyError/lxml errors on broken books
        raise UserInputError(f"is not a readable EPUB ({type(exc).__name__}: {exc})", path=path) from exc

    flat = _Flattener()
    parser = etree.XMLParser(recover=True, resolve_entities=False, no_network=True, huge_tree=True)
    spine_names = []
    for idref, _linear in book.spine:
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
            continue
        name = item.get_name()
        content = item.get_content()
        if not content.strip():
            continue
        try:
            root = etree.fromstring(content, parser)
        except etree.XMLSyntaxError:
            root = None
        if root is None:
            from lxml import html
            root = html.fromstring(content)
        spine_names.append(name)
        flat.document(name, root)
    if not flat.paragraphs:
        raise UserInputError("has no text (an empty EPUB, or its pages are only pictures)", path=path)

    title = _epub_meta(book, "title")
    author = _epub_meta(book, "creator")
    language = (_epub_meta(book, "language").split("&")[0].strip() or "").lower()

    # TOC entries -> positions in the flattened text
    entries = []
    for toc_title, href, depth, has_children in _flatten_toc(book.toc):
        file_part, _, frag = unquote(href).partition("#")
        name = _resolve_name(file_part, spine_names)
        if name is None:
            continue
        position = flat.anchors.get((name, frag), flat.anchors.get((name, "")))
        if position is None:
            continue
        entries.append((" ".join(clean_text(toc_title).split()), position, has_children, f"{name}#{frag}"))
    if not entries:  # no usable TOC: one section per spine document, titled by its first heading
        for name in spine_names:
            start = flat.anchors[(name, "")]
            heading = next((t for t, h, _ in flat.paragraphs[start:start + 3] if h), name)
            entries.append((heading, start, False, name))
    entries.sort(key=lambda e: e[1])
    sections: list[Section] = []
    first = entries[0][1]
    if first > 0:
        sections.append(_epub_section(flat, "Front matter", 0, first, "before the first table-of-contents entry",
                                      "start"))
    pending: list[str] = []
    for i, (toc_title, start, has_children, source) in enumerate(entries):
        end = entries[i + 1][1] if i + 1 < len(entries) else len(flat.paragraphs)
        reason = _skip_reason(toc_title) or _epub_type_reason(flat, start, end) \
            or _title_page_reason(flat, start, end, toc_title, title, i, entries)
        section = _epub_section(flat, toc_title, start, end, reason, source)
        if pending and reason is None:
            section = replace(section, paragraphs=tuple(pending) + section.paragraphs)
            pending = []
        if has_children and reason is None and section.chars < 200 and i + 1 < len(entries):
            pending += list(section.paragraphs)   # a part's title page: read it at the start of its first chapter
            continue
        sections.append(section)
    return _finish(path, title, author, language, sections, _epub_cover(book), "utf-8", "epub", keep)


def _resolve_name(file_part: str, names: list[str]) -> str | None:
    if not file_part:
        return names[0] if names else None
    if file_part in names:
        return file_part
    tail = PurePosixPath(file_part).name
    matches = [n for n in names if PurePosixPath(n).name == tail]
    return matches[0] if matches else None


def _epub_type_reason(flat: _Flattener, start: int, end: int) -> str | None:
    for index in range(start, min(end, start + 3)):
        for t in flat.types.get(index, ()):
            if t in SKIP_EPUB_TYPES:
                return SKIP_EPUB_TYPES[t]
    return None


def _title_page_reason(flat, start, end, toc_title, book_title, index, entries) -> str | None:
    """The book's own title as a TOC entry before the first chapter, holding only a few short lines."""
    text_chars = sum(len(t) for t, _, _ in flat.paragraphs[start:end])
    long_paragraphs = [t for t, _, _ in flat.paragraphs[start:end] if len(t) > 300]
    same = book_title and toc_title.lower().strip(" .") == book_title.lower().strip(" .")
    if same and text_chars < 1500 and not long_paragraphs:
        return "front matter"
    return None


def _epub_section(flat: _Flattener, title: str, start: int, end: int, reason: str | None, source: str) -> Section:
    paragraphs, boilerplate = [], []
    for text, heading, boiler in flat.paragraphs[start:end]:
        text = clean_text(text).strip()
        if not text or not re.search(r"\w", text):
            continue
        (boilerplate if boiler and reason is None else paragraphs).append(spoken_heading(text) if heading else text)
    if boilerplate and not paragraphs:   # a section that is nothing but the Gutenberg header or licence
        return Section(title or f"Section at {source}", tuple(boilerplate), "Project Gutenberg boilerplate", source)
    removed = tuple(f"{kind}: {text[:80]}" for at, kind, text in flat.removed if start <= at < end)
    removed += tuple(f"Project Gutenberg boilerplate: {text[:80]}" for text in boilerplate)
    return Section(title or f"Section at {source}", tuple(paragraphs), reason, source, removed)


# --- plain text and Markdown ---

def decode_text(path: Path, data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 (with or without BOM), UTF-16 with a BOM, else the detected legacy encoding."""
    if not data.strip():
        raise UserInputError("is empty: no text to narrate", path=path)
    for bom, codec in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            return data.decode(codec), codec
    controls = sum(1 for b in data[:65536] if b < 9 or 13 < b < 32)
    if b"\x00" in data[:65536] or controls > 0.01 * min(len(data), 65536):
        raise UserInputError("is not a text file (binary data); give an .epub, .txt or .md book", path=path)
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        from charset_normalizer import from_bytes
    except ImportError:  # pragma: no cover - charset-normalizer comes with the audiobook extra
        from_bytes = None
    results = list(from_bytes(data)) if from_bytes else []
    best = min(results, key=lambda r: (r.chaos, -r.coherence)) if results else None
    # short Western text fits many single-byte code pages equally well; Windows-1252 (a superset of
    # Latin-1) is by far the most common for books, so it wins unless it reads clearly worse
    western = next((r for r in results if r.encoding in ("cp1252", "latin_1", "iso8859_15")), None)
    if western is not None and best is not None and western.chaos <= best.chaos + 0.1:
        best = western
    if best is not None and best.encoding:
        text = str(best)
        letters = sum(ch.isalpha() for ch in text)
        visible = sum(not ch.isspace() for ch in text)
        if visible and letters / visible > 0.6 and best.chaos < 0.3:
            return text, best.encoding
    raise UserInputError("is not UTF-8 and its encoding cannot be detected; save it as UTF-8 and try again",
                         path=path)


_GUTENBERG_START = re.compile(r"^\s*\*{3}\s*START OF (THE|THIS) PROJECT GUTENBERG.*$", re.I | re.M)
_GUTENBERG_END = re.compile(r"^\s*\*{3}\s*END OF (THE|THIS) PROJECT GUTENBERG.*$", re.I | re.M)
_NUMBER_WORDS = (r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
                 r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|first|second|third|fourth|fifth|"
                 r"sixth|seventh|eighth|ninth|tenth")
_CHAPTER_LINE = re.compile(
    rf"^\s*(?:chapter|part|book|prologue|epilogue)\b(?:\s+(?:\d+|[ivxlcdm]+|{_NUMBER_WORDS})\b)?[.:]?.{{0,70}}$"
    r"|^\s*第[0-9一二三四五六七八九十百千零〇两]+[章回节卷部].{0,40}$", re.I)
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")


def _strip_markdown(line: str) -> str:
    line = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", line)                 # images
    line = re.sub(r"\[\^[^\]]+\]", "", line)                         # footnote markers
    line = re.sub(r"\[([^\]]+)\]\([^)]*\)", r"\1", line)             # links -> their text
    line = re.sub(r"`([^`]*)`", r"\1", line)
    line = re.sub(r"(\*\*|__)(.+?)\1", r"\2", line)
    line = re.sub(r"(?<![\w*])[*_](?=\S)(.+?)(?<=\S)[*_](?![\w*])", r"\1", line)   # _very_ / *very*
    line = re.sub(r"^\s*(?:[-*+]|\d+[.)])\s+", "", line)               # list bullets
    line = re.sub(r"^\s*>\s?", "", line)                               # quotes
    return line


def read_text_book(path: Path, *, keep: Iterable[str] = ()) -> Book:
    path = Path(path)
    text, encoding = decode_text(path, path.read_bytes())
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    markdown = path.suffix.lower() in (".md", ".markdown")
    sections: list[Section] = []
    start = _GUTENBERG_START.search(text)
    end = _GUTENBERG_END.search(text)
    header_title = ""
    if start:
        header = text[:start.end()]
        m = re.search(r"^Title:\s*(.+)$", header, re.M)
        header_title = m.group(1).strip() if m else ""
        sections.append(Section("Project Gutenberg header", tuple(split_lines(header)), "Project Gutenberg "
                                "boilerplate", "line 1"))
        body_offset = start.end()
    else:
        body_offset = 0
    body = text[body_offset:end.start() if end and (not start or end.start() > start.end()) else len(text)]
    author = ""
    m = re.search(r"^Author:\s*(.+)$", text[:body_offset], re.M) if start else None
    if m:
        author = m.group(1).strip()

    lines = body.split("\n")
    removed_notes: list[str] = []
    if markdown:
        kept = []
        fence = False
        for line in lines:
            if line.strip().startswith("```"):
                fence = not fence
                continue
            if fence:
                continue
            if re.match(r"^\[\^[^\]]+\]:", line):
                removed_notes.append(line.strip()[:80])
                continue
            kept.append(line)
        lines = kept

    # find headings: markdown '#' lines (at the chapter level) and "Chapter N" lines standing alone
    heads: list[tuple[int, str]] = []
    md_levels = [len(_MD_HEADING.match(l).group(1)) for l in lines if markdown and _MD_HEADING.match(l)]
    chapter_level = None
    book_title = header_title
    if md_levels:
        repeated = sorted(level for level in set(md_levels) if md_levels.count(level) > 1)
        chapter_level = repeated[0] if repeated else min(md_levels)
        if md_levels.count(min(md_levels)) == 1 and repeated and min(md_levels) < chapter_level:
            first_top = next(i for i, l in enumerate(lines) if _MD_HEADING.match(l)
                             and len(_MD_HEADING.match(l).group(1)) == min(md_levels))
            book_title = book_title or _MD_HEADING.match(lines[first_top]).group(2)
            lines[first_top] = ""
    for i, line in enumerate(lines):
        m = _MD_HEADING.match(line) if markdown else None
        if m and len(m.group(1)) <= (chapter_level or 6):
            heads.append((i, _strip_markdown(m.group(2)).strip()))
            continue
        blank_before = i == 0 or not lines[i - 1].strip()
        if blank_before and _CHAPTER_LINE.match(line) and len(line.strip()) <= 80:
            title = line.strip()
            nxt = i + 1
            if nxt < len(lines) and lines[nxt].strip() and len(lines[nxt].strip()) <= 70 \
                    and (nxt + 1 >= len(lines) or not lines[nxt + 1].strip()):
                title = f"{title.rstrip('.').rstrip()}. {lines[nxt].strip()}"   # "CHAPTER I." + "Down the Rabbit-Hole"
                lines[nxt] = ""
            heads.append((i, title))
    if not heads:
        heads = [(0, "")]
    cuts = heads + [(len(lines), "")]
    if heads[0][0] > 0:
        front = lines[:heads[0][0]]
        paragraphs = _paragraphs(front, markdown)
        prose = [p for p in paragraphs if len(sentences_of(p)) > 1 or len(p) > 200]
        if paragraphs:
            looks_like_toc = _skip_reason(paragraphs[0]) == "table of contents"
            reason = "table of contents" if looks_like_toc else (None if prose else "front matter")
            if reason == "front matter" and not book_title and paragraphs and len(paragraphs[0]) < 100:
                book_title = paragraphs[0].strip("#* ")
            sections.append(Section("Opening" if reason is None else ("Contents" if looks_like_toc
                                    else "Front matter"), tuple(paragraphs), reason, "line 1"))
    for (at, title), (nxt, _) in zip(cuts, cuts[1:]):
        paragraphs = _paragraphs(lines[at + (1 if title else 0):nxt], markdown)
        heading = [spoken_heading(title)] if title else []
        reason = _skip_reason(title) if title else None
        sections.append(Section(title or (book_title or path.stem), tuple(heading + paragraphs), reason,
                                f"line {at + 1}", tuple(removed_notes) if not sections else ()))
    if end and (not start or end.start() > start.end()):
        tail = text[end.start():]
        sections.append(Section("Project Gutenberg licence", tuple(split_lines(tail)[:50]),
                                "Project Gutenberg boilerplate", "end"))
    return _finish(path, book_title, author, "", sections, None, encoding, "md" if markdown else "txt", keep)


def split_lines(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text) if p.strip()]


def _paragraphs(lines: list[str], markdown: bool) -> list[str]:
    out, buf = [], []
    for line in lines + [""]:
        if not line.strip():
            if buf:
                out.append(" ".join(" ".join(buf).split()))
                buf = []
            continue
        if markdown:
            m = _MD_HEADING.match(line)
            if m:
                if buf:
                    out.append(" ".join(" ".join(buf).split()))
                    buf = []
                out.append(spoken_heading(_strip_markdown(m.group(2))))
                continue
            if re.match(r"^\s*([-*_]\s*){3,}$", line):   # horizontal rule
                continue
        buf.append(_strip_markdown(line))
    return [clean_text(p).strip() for p in out if re.search(r"\w", p)]


def chapter_map(book: Book) -> list[dict]:
    """One row per section for `--check`: index among narrated chapters, title, characters, skipped why."""
    rows, number = [], 0
    for section in book.sections:
        if section.skip is None:
            number += 1
        rows.append({"number": number if section.skip is None else None, "title": section.title,
                     "chars": section.chars, "skip": section.skip, "removed": len(section.removed)})
    return rows
