"""Read a user's plain-text file whatever its encoding, and refuse files that are not text, by name.

People's text files come as UTF-8, UTF-8 with a BOM, UTF-16 (Windows Notepad) or Windows-1252/latin-1 (older
editors). Books come as EPUB (a zip) or PDF: reading those as text would speak "PK..." garbage, so they are
refused with a pointer to what reads them.
"""
from __future__ import annotations

import codecs
import os
from pathlib import Path

from .errors import UserInputError

SNIFF_BYTES = 8192
_BINARY_MAGIC = {
    b"PK\x03\x04": "a zip archive", b"%PDF": "a PDF document", b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image", b"RIFF": "a RIFF (audio/video) file", b"ID3": "an MP3 file",
    b"fLaC": "a FLAC file", b"OggS": "an Ogg file", b"\x7fELF": "a program", b"{\\rtf": "an RTF document",
}


def _kind_of_binary(path: Path, head: bytes) -> str | None:
    """What a non-text file is, for the error message (None: it looks like text)."""
    if path.suffix.lower() == ".epub" or (head.startswith(b"PK\x03\x04") and b"application/epub+zip" in head[:200]):
        return "epub"
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            return what
    if len(head) > 8 and head[4:8] == b"ftyp":
        return "an MP4/M4A file"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return None
    if b"\x00" in head:
        return "a binary file"
    return None


def _decode(data: bytes) -> tuple[str, str]:
    """(text, encoding name): BOMs first, then strict UTF-8, then Windows-1252 (latin-1 for its gaps)."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace"), "UTF-8"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "UTF-16"
    try:
        return data.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "Windows-1252"
    except UnicodeDecodeError:  # five bytes cp1252 leaves undefined; latin-1 maps every byte
        return data.decode("latin-1"), "latin-1"


def read_text_file(path: str | os.PathLike, *, book_hint: str = "") -> tuple[str, str]:
    """The file's text and the encoding it was read with; a UserInputError naming the file otherwise.
    `book_hint` is appended when the file is an EPUB (e.g. which command narrates books)."""
    path = Path(path)
    if not path.exists():
        raise UserInputError("text file not found", path=path)
    if path.is_dir():
        raise UserInputError("is a folder, not a text file", path=path)
    data = path.read_bytes()
    if not data.strip():
        raise UserInputError("text file is empty", path=path)
    kind = _kind_of_binary(path, data[:SNIFF_BYTES])
    if kind == "epub":
        raise UserInputError("is an EPUB book, not plain text" + (f"; {book_hint}" if book_hint else ""), path=path)
    if kind:
        raise UserInputError(f"is {kind}, not a plain-text file", path=path)
    text, encoding = _decode(data)
    controls = sum(1 for ch in text[:SNIFF_BYTES] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(2, len(text[:SNIFF_BYTES]) // 100):
        raise UserInputError("does not look like text (it holds control characters)", path=path)
    return text, encoding
