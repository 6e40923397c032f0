"""Audiobook narrator: reading books, the chaptered M4B writer, the resumable narration flow, the CLI."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.errors import UserInputError
from pipelines.m4a import read_chaptered_audio, write_chaptered_audio
from pipelines.types import Audio
from tests.conftest import tone
from tests.media import encode_audio


def _jpeg(width: int = 48, height: int = 64) -> bytes:
    import av

    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuvj420p"
    encoder.time_base = __import__("fractions").Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 120, np.uint8), format="rgb24")
    packets = list(encoder.encode(frame.reformat(format="yuvj420p"))) + list(encoder.encode(None))
    return b"".join(bytes(p) for p in packets)


# --- the M4B writer ---

def test_m4b_chapters_metadata_and_cover_read_back(tmp_path):
    first = encode_audio(tone(2.0, 22050, 300), 22050, tmp_path / "one.wav")
    second = encode_audio(tone(1.5, 44100, 500), 44100, tmp_path / "two.mp3")   # other rate and codec
    cover = _jpeg()
    marks = write_chaptered_audio(tmp_path / "book.m4b", [first, second, Audio(tone(1.0, 22050, 700), 22050)],
                                  ["Chapter I", "Chapter II — 第二章", "The End"],
                                  metadata={"title": "A Book", "artist": "An Author", "genre": "Audiobook"},
                                  cover=cover)
    info = read_chaptered_audio(tmp_path / "book.m4b")
    assert [c.title for c in info.chapters] == ["Chapter I", "Chapter II — 第二章", "The End"]
    assert info.codec == "aac" and info.sample_rate == 22050
    assert info.chapters[0].start == 0.0
    assert info.chapters[1].start == pytest.approx(2.0, abs=0.01)
    assert info.chapters[2].start == pytest.approx(marks[2].start, abs=0.002)
    assert info.chapters[2].start > 3.4   # mp3 adds its own padding; the mark follows the decoded length
    assert info.duration == pytest.approx(info.chapters[-1].end, abs=0.05)
    assert info.metadata["title"] == "A Book" and info.metadata["artist"] == "An Author"
    assert info.metadata["major_brand"].strip() == "M4B"
    assert info.cover == cover
    assert not list(tmp_path.glob(".*.part"))   # written beside and renamed: no temp left


def test_m4b_audio_is_the_chapters_in_order(tmp_path):
    from pipelines.audio import load_audio

    chapters = [Audio(tone(1.0, 16000, f), 16000) for f in (250, 1000)]
    write_chaptered_audio(tmp_path / "two.m4a", chapters, ["low", "high"])
    audio = load_audio(tmp_path / "two.m4a", 16000).samples

    def pitch(x):
        return np.argmax(np.abs(np.fft.rfft(x))) * 16000 / len(x)
    assert pitch(audio[2000:14000]) == pytest.approx(250, abs=5)
    assert pitch(audio[18000:30000]) == pytest.approx(1000, abs=5)


def test_m4b_bad_chapter_file_is_named(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 100)
    with pytest.raises(UserInputError, match="bad.wav"):
        write_chaptered_audio(tmp_path / "x.m4b", [Audio(tone(0.5), 16000), bad], ["a", "b"], sample_rate=16000)
    assert not (tmp_path / "x.m4b").exists() and not list(tmp_path.glob(".*.part"))


# --- reading books ---

ROBINSON = "books/robinson_crusoe_pg521.epub"
ALICE = "books/alice_chapter01.txt"


def _nav_titles(epub: Path) -> list[str]:
    """The EPUB's own table of contents, read straight from its nav document (not through ebooklib)."""
    import re
    import zipfile

    with zipfile.ZipFile(epub) as archive:
        nav = next(n for n in archive.namelist() if n.endswith("toc.xhtml"))
        xml = archive.read(nav).decode()
    titles = re.findall(r"<a [^>]*>([^<]+)</a>", xml.split('epub:type="toc"', 1)[1].split("</nav>", 1)[0])
    return [" ".join(t.replace("&amp;", "&").split()) for t in titles]


def test_epub_chapters_follow_its_table_of_contents(shared):
    from pipelines.books import read_book
    from pipelines.text import clean_text

    book = read_book(shared / ROBINSON)
    toc = [clean_text(t) for t in _nav_titles(shared / ROBINSON)]
    chapters = [t for t in toc if t.startswith("CHAPTER")]
    assert len(chapters) == 20
    assert [c.title for c in book.chapters] == chapters          # every chapter, in order, nothing else
    assert [s.title for s in book.sections] == toc                # the skipped ones are listed, not lost
    reasons = {s.title: s.skip for s in book.skipped}
    assert reasons["Contents"] == "table of contents"
    assert reasons["THE FULL PROJECT GUTENBERG LICENSE"] == "Project Gutenberg boilerplate"
    assert book.title == "The Life and Adventures of Robinson Crusoe" and book.author == "Daniel Defoe"
    assert book.language == "en" and book.cover[:8] == b"\x89PNG\r\n\x1a\n"
    first = book.chapters[0]
    assert first.paragraphs[0] == "Chapter 1: Start in life."      # spoken heading: no all-caps spelling
    assert first.paragraphs[1].startswith("I was born in the year 1632, in the city of York")
    last = book.chapters[-1]
    assert last.paragraphs[-1].endswith("I shall give a farther account of in the Second Part of my Story.")
    assert not any("Gutenberg" in p for c in book.chapters for p in c.paragraphs)
    # overridable: the table of contents comes back when asked for
    kept = read_book(shared / ROBINSON, keep=["contents"])
    assert kept.chapters[0].title == "Contents" and len(kept.chapters) == 21


def test_text_book_chapters_from_chapter_lines_and_markdown_headings(shared, tmp_path):
    from pipelines.books import read_book

    alice = read_book(shared / ALICE)
    assert [c.title for c in alice.chapters] == ["CHAPTER I. Down the Rabbit-Hole"]
    paragraphs = alice.chapters[0].paragraphs
    assert paragraphs[0] == "Chapter 1: Down the Rabbit-Hole."
    assert paragraphs[1].startswith("Alice was beginning to get very tired")
    assert "_very_" not in alice.chapters[0].text and "so very remarkable" in alice.chapters[0].text
    source = (shared / ALICE).read_text(encoding="utf-8")
    last_prose = [p for p in source.strip().split("\n\n") if any(ch.isalpha() for ch in p)][-1]
    assert paragraphs[-1] == " ".join(last_prose.split())   # the end of the chapter is not dropped

    md = tmp_path / "story.md"
    md.write_text("# The Story\n\n## Contents\n\n- One\n- Two\n\n## One\n\nFirst *bold* words.[^1] More.\n\n"
                  "## Two\n\nSecond [link](http://x) text.\n\n[^1]: A footnote nobody should hear.\n",
                  encoding="utf-8")
    book = read_book(md)
    assert book.title == "The Story"
    assert [c.title for c in book.chapters] == ["One", "Two"]
    assert book.chapters[0].paragraphs == ("One.", "First bold words. More.")
    assert book.chapters[1].paragraphs == ("Two.", "Second link text.")
    assert [s.skip for s in book.skipped] == ["table of contents"]


def test_latin1_text_is_decoded_and_mandarin_is_detected(tmp_path):
    from pipelines.books import read_book

    latin = tmp_path / "cafe.txt"
    latin.write_bytes("Chapter 1\n\nThe café served crème brûlée to the naïve façade of Zoë. "
                      "Señor Muñoz paid.\n".encode("latin-1"))
    book = read_book(latin)
    assert "crème brûlée" in book.chapters[0].text and book.encoding.replace("_", "-").lower() in (
        "latin-1", "iso-8859-1", "cp1252", "windows-1252", "iso8859-1", "latin1", "iso-8859-15", "cp1250")
    zh = tmp_path / "zh.txt"
    zh.write_text("第一章 开始\n\n今天天气很好。我们去公园吧！你来吗？\n", encoding="utf-8")
    book = read_book(zh)
    assert book.language == "zh" and book.chapters[0].title == "第一章 开始"
    assert book.chapters[0].sentences()[1] == ["今天天气很好。", "我们去公园吧!", "你来吗?"]


@pytest.mark.parametrize("name, data, message", [
    ("broken.epub", b"PK\x03\x04 this is not really a zip archive", "not a readable EPUB"),
    ("empty.epub", b"", "is empty"),
    ("empty.txt", b"  \n\n ", "is empty"),
    ("garbage.txt", bytes(range(256)) * 40, "not a text file"),
    ("missing.txt", None, "book not found"),
])
def test_bad_books_are_refused_by_name(tmp_path, name, data, message):
    from pipelines.books import read_book

    path = tmp_path / name
    if data is not None:
        path.write_bytes(data)
    with pytest.raises(UserInputError, match=message) as info:
        read_book(path)
    assert name in str(info.value)


def _epub(path: Path, *, encrypted: bool = False, text: str = "Hello there. General Kenobi.") -> Path:
    """A minimal EPUB 3 written by hand (one chapter, nav TOC), optionally with encrypted text (DRM)."""
    import zipfile

    opf = ('<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">'
           '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">x</dc:identifier>'
           '<dc:title>Tiny</dc:title><dc:language>en</dc:language></metadata><manifest>'
           '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
           '<item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/></manifest>'
           '<spine><itemref idref="c1"/></spine></package>')
    nav = ('<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">'
           '<body><nav epub:type="toc"><ol><li><a href="c1.xhtml">One</a></li></ol></nav></body></html>')
    body = f'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body><p>{text}</p></body></html>'
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/epub+zip")
        z.writestr("META-INF/container.xml", '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:'
                   'names:tc:opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" '
                   'media-type="application/oebps-package+xml"/></rootfiles></container>')
        z.writestr("OEBPS/content.opf", opf)
        z.writestr("OEBPS/nav.xhtml", nav)
        z.writestr("OEBPS/c1.xhtml", body)
        if encrypted:
            z.writestr("META-INF/encryption.xml", '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:'
                       'container"><EncryptedData xmlns="http://www.w3.org/2001/04/xmlenc#"><EncryptionMethod '
                       'Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/><CipherData><CipherReference '
                       'URI="OEBPS/c1.xhtml"/></CipherData></EncryptedData></encryption>')
    return path


def test_drm_and_textless_epubs_are_refused(tmp_path):
    from pipelines.books import read_book

    assert [c.title for c in read_book(_epub(tmp_path / "ok.epub")).chapters] == ["One"]
    noted = read_book(_epub(tmp_path / "notes.epub", text='Hello there.<a epub:type="noteref" href="#n1" '
                            'xmlns:epub="http://www.idpf.org/2007/ops">1</a> General Kenobi.</p><aside '
                            'epub:type="footnote" id="n1" xmlns:epub="http://www.idpf.org/2007/ops">A line from a '
                            'film.</aside><p>The end.'))
    chapter = noted.chapters[0]
    assert chapter.paragraphs == ("Hello there. General Kenobi.", "The end.")   # no marker, no footnote
    assert [r.split(":")[0] for r in chapter.removed] == ["note marker", "footnote"]
    with pytest.raises(UserInputError, match="DRM-protected"):
        read_book(_epub(tmp_path / "drm.epub", encrypted=True))
    with pytest.raises(UserInputError, match="no text|no chapters"):
        read_book(_epub(tmp_path / "blank.epub", text=""))


def test_cli_bad_inputs_exit_non_zero_with_one_line(tmp_path, capsys):
    from pipelines.apps.cli import main

    garbage = tmp_path / "garbage.txt"
    garbage.write_bytes(bytes(range(256)) * 40)
    assert main(["audiobook", str(garbage), "--out", str(tmp_path / "out"), "--check"]) == 2
    err = capsys.readouterr().err
    assert "garbage.txt" in err and "not a text file" in err and "Traceback" not in err
    zh = tmp_path / "zh.txt"
    zh.write_text("第一章\n\n今天天气很好。我们去公园吧！\n", encoding="utf-8")
    assert main(["audiobook", str(zh), "--out", str(tmp_path / "out"), "--voice", "joe"]) == 2
    err = capsys.readouterr().err
    assert "zh.txt" in err and "Mandarin" in err and "no Mandarin voice" in err
    assert not (tmp_path / "out").exists()


def test_cli_check_prints_the_chapter_map(shared, capsys):
    from pipelines.apps.cli import main

    assert main(["audiobook", str(shared / ROBINSON), "--out", "unused", "--check", "--chapters", "1-3"]) == 0
    out = capsys.readouterr().out
    assert "CHAPTER I. START IN LIFE" in out and "skipped: table of contents" in out
    assert "3 chapter(s) marked +," in out and " to render" in out
    assert " +  1 CHAPTER I. START IN LIFE" in out and "\n    4 CHAPTER IV." in out


def test_lexicon_changes_only_whole_words(tmp_path):
    from pipelines.flows.audiobook import apply_lexicon, read_lexicon

    lex = tmp_path / "lexicon.txt"
    lex.write_text("# names\nCrusoe = Crew so\nYork\tyork city\n", encoding="utf-8")
    entries = read_lexicon(lex)
    assert apply_lexicon("Crusoe of York, not Yorkshire.", entries) == "Crew so of york city, not Yorkshire."
    lex.write_text("Nguyen = /ŋwiən/\n", encoding="utf-8")
    with pytest.raises(UserInputError, match="IPA"):
        read_lexicon(lex)


def test_self_check_forgives_spelling_the_asr_cannot_hear_but_not_wrong_words():
    """Whisper writes American spellings and digits: a British book read right must not be retaken
    (Robinson Crusoe has 197 such words), while a word really misread still counts."""
    from pipelines.flows.audiobook import _score

    assert _score("The colour of the harbour was grey.", "The color of the harbor was gray.") == 0
    assert _score("He was twenty-five years old.", "He was 25 years old.") == 0
    assert _score("Mr. Smith's boat.", "Mister Smith's boat.") == 0
    assert _score("The colour was red.", "The collar was red.") == 0.25
    assert _score("我们走吧。", "我们走吧") == 0   # Chinese: characters, as before
    assert _score("Das Haus ist rot.", "Das Haus ist rot", language="de") == 0

# --- narration with the real voice (and ASR) ---

EXCERPT = ("Chapter 1\n\nThe ship was ready. My father said no.\n\nI went anyway. The wind was fair. "
           "We passed the Humber. The sea grew rough. I was sick. I swore to go home.\n\n"
           "Chapter 2\n\nThe storm came. We lost the mast.\n")   # 9 + 3 sentences (headings count)


def _run_cli(*args: str) -> tuple[int, str, str]:
    import contextlib
    import io

    from pipelines.apps.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def _rendered(stdout: str) -> int:
    import re

    return int(re.search(r"(\d+) rendered now", stdout).group(1))


def _short_robinson(shared, tmp_path) -> Path:
    """The real Robinson Crusoe EPUB with chapters I and II cut to their first two paragraphs (time bound)."""
    import re
    import zipfile

    source = shared / ROBINSON
    target = tmp_path / "robinson_short.epub"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if re.search(r"521-h-[12]\.htm\.xhtml$", item.filename):
                text = data.decode("utf-8")
                paragraphs = [m.end() for m in re.finditer(r"</p>", text)]
                text = text[:paragraphs[1]] + "</div></body></html>"
                if item.filename.endswith("521-h-1.htm.xhtml"):   # keep the excerpt short: its first sentences
                    text = re.sub(r"(<p>\s*I was born.*?Hull\.).*?</p>", r"\1</p>", text, flags=re.S)
                    text = re.sub(r"(<p>\s*I had two elder brothers.*?lieutenant-colonel).*?</p>",
                                  r"\1.</p>", text, flags=re.S)
                else:   # chapter II: the opening words of its first sentence
                    text = re.sub(r"(<p>\s*That evil influence.*?house)\W.*?</p>.*?</p>", r"\1.</p>", text, flags=re.S)
                data = text.encode("utf-8")
            zout.writestr(item, data)
    return target


def _words_in_order(sentences: list[str], heard: str, min_share: float = 0.6) -> list[str]:
    """Sentences whose words are not found, in order, in the transcript (allowing ASR slips)."""
    from pipelines.text import normalize_for_scoring

    words = normalize_for_scoring(heard).split()
    at, missing = 0, []
    for sentence in sentences:
        wanted = [w for w in normalize_for_scoring(sentence).split() if len(w) > 3 and not w.isdigit()]
        found, cursor = 0, at
        for w in wanted:
            try:
                cursor = words.index(w, cursor, min(len(words), cursor + 40)) + 1
                found += 1
            except ValueError:
                pass
        if wanted and found / len(wanted) < min_share:
            missing.append(sentence)
        else:
            at = max(at, cursor - 1) if found else at
    return missing


@pytest.mark.slow
def test_epub_to_m4b_round_trip_with_self_check(shared, tmp_path):
    from pipelines.apps.audiobook_cmd import build_checker
    from pipelines.audio import load_audio
    from pipelines.books import read_book
    from pipelines.config import load_config

    epub = _short_robinson(shared, tmp_path)
    out = tmp_path / "book"
    code, stdout, stderr = _run_cli("audiobook", str(epub), "--voice", "joe", "--out", str(out), "--chapters", "1-2",
                                    "--engine", "vits-onnx")
    assert code == 0, stderr
    m4b = out / "The Life and Adventures of Robinson Crusoe.m4b"
    info = read_chaptered_audio(m4b)
    assert [c.title for c in info.chapters] == ["CHAPTER I. START IN LIFE", "CHAPTER II. SLAVERY AND ESCAPE"]
    assert info.metadata["title"] == "The Life and Adventures of Robinson Crusoe"
    assert info.metadata["artist"] == "Daniel Defoe" and info.cover[:4] == b"\x89PNG"
    assert info.chapters[0].end == pytest.approx(info.chapters[1].start) and info.duration > 10
    report = (out / "report.md").read_text()
    assert "0 still wrong" in report and "Contents (table of contents" in report
    chapter_files = sorted((out / "chapters").glob("*.m4a"))
    assert [p.name for p in chapter_files] == ["01 - CHAPTER I. START IN LIFE.m4a",
                                               "02 - CHAPTER II. SLAVERY AND ESCAPE.m4a"]
    assert len(sorted((out / "chapters").glob("*.srt"))) == 2
    # every sentence is heard, in order, in each chapter of the finished book (cut at its chapter marks)
    book = read_book(epub)
    asr = build_checker(load_config())
    audio = load_audio(m4b)
    for mark, chapter in zip(info.chapters, book.chapters[:2]):
        heard = asr.transcribe(audio.slice(mark.start, mark.end), language="en").text
        sentences = [s for p in chapter.sentences() for s in p]
        assert len(sentences) >= 2
        assert _words_in_order(sentences, heard) == [], heard


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_audio_and_edits_render_alone(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import soundfile as sf

    book = tmp_path / "voyage.txt"
    book.write_text(EXCERPT, encoding="utf-8")
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    args = ["audiobook", str(book), "--voice", "joe", "--no-self-check", "--format", "wav"]
    repo = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(repo))
    proc = subprocess.Popen([sys.executable, "-m", "pipelines.apps.cli", *args, "--out", str(killed)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pieces = killed / ".audiobook-job" / "pieces"
    deadline = time.monotonic() + 120
    try:
        while len(list(pieces.glob("*/*.json"))) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)   # mid-chapter: chapter 1 has 9 sentences
    finally:
        proc.wait(timeout=30)
    made = len(list(pieces.glob("*/*.json")))
    assert 2 <= made < 9, f"the kill came too late ({made} sentences were done)"
    assert not (killed / "chapters" / "01 - Chapter 1.wav").exists()   # no chapter file was finished

    code, stdout, _ = _run_cli(*args, "--out", str(killed))
    assert code == 0 and _rendered(stdout) == 12 - made    # continued, did not start again
    code, stdout, _ = _run_cli(*args, "--out", str(clean))
    assert code == 0 and _rendered(stdout) == 12
    for name in ("01 - Chapter 1.wav", "02 - Chapter 2.wav"):
        a, _ = sf.read(killed / "chapters" / name, dtype="int16")
        b, _ = sf.read(clean / "chapters" / name, dtype="int16")
        assert len(a) == len(b) and np.array_equal(a, b), name   # identical to an uninterrupted run
    srt_before = (clean / "chapters" / "02 - Chapter 2.srt").read_text()

    # one edited sentence: only it is rendered again, only its chapter changes
    before = {p.name: p.read_bytes() for p in (clean / "chapters").glob("*.wav")}
    book.write_text(EXCERPT.replace("We lost the mast.", "We lost the sail."), encoding="utf-8")
    code, stdout, _ = _run_cli(*args, "--out", str(clean))
    assert code == 0 and _rendered(stdout) == 1
    after = {p.name: p.read_bytes() for p in (clean / "chapters").glob("*.wav")}
    assert after["01 - Chapter 1.wav"] == before["01 - Chapter 1.wav"]
    assert after["02 - Chapter 2.wav"] != before["02 - Chapter 2.wav"]
    assert "sail" in (clean / "chapters" / "02 - Chapter 2.srt").read_text() and "sail" not in srt_before

    # --only: another take of one sentence, its chapter rebuilt, the rest untouched
    code, stdout, _ = _run_cli(*args, "--out", str(clean), "--only", "1:3")
    assert code == 0 and _rendered(stdout) == 1
    again = {p.name: p.read_bytes() for p in (clean / "chapters").glob("*.wav")}
    assert again["01 - Chapter 1.wav"] != after["01 - Chapter 1.wav"]
    assert again["02 - Chapter 2.wav"] == after["02 - Chapter 2.wav"]


@pytest.mark.slow
def test_sentences_still_wrong_after_retries_are_reported_and_exit_1(tmp_path):
    book = tmp_path / "note.txt"   # a "word" no voice can make a recogniser write back
    book.write_text("Chapter 1\n\nWe sailed from York. Xqzvt brrkpf.\n", encoding="utf-8")
    lexicon = tmp_path / "lexicon.txt"   # a respelling is not an error: heard as respelled, it passes
    lexicon.write_text("York = Yorkshire\n", encoding="utf-8")
    out = tmp_path / "out"
    code, stdout, stderr = _run_cli("audiobook", str(book), "--voice", "joe", "--out", str(out), "--lexicon",
                                    str(lexicon), "--format", "wav")
    assert code == 1
    assert "1:3" in stderr and "Xqzvt brrkpf." in stderr and "1:2" not in stderr
    assert _rendered(stdout) == 3 + 2          # three sentences, and two more takes of the wrong one
    report = (out / "report.md").read_text()
    assert "1 still wrong" in report and "--only \"1:3\"" in report
    assert (out / "chapters" / "01 - Chapter 1.wav").is_file()   # the audio is still delivered


@pytest.mark.slow
def test_web_tab_lists_chapters_and_narrates_the_chosen_ones(tmp_path):
    import socket

    from gradio_client import Client, handle_file

    from pipelines.apps.web import launch
    from pipelines.config import load_config

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = launch(load_config(), port=port, block=False, warm=False)
    try:
        book = tmp_path / "tiny.txt"
        book.write_text("Chapter 1\n\nThe ship was ready.\n\nChapter 2\n\nThe storm came.\n", encoding="utf-8")
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        about, chapters = client.predict(handle_file(str(book)), api_name="/load")
        assert "2 chapters" in about
        assert [c[0] for c in chapters["choices"]] == ["1. Chapter 1 (29 characters)", "2. Chapter 2 (25 characters)"]
        status, m4b, files, report = client.predict(handle_file(str(book)), chapters["value"][1:], "joe", False,
                                                    api_name="/audiobook")
        assert status.startswith("Done: 1 chapter(s)")
        assert [c.title for c in read_chaptered_audio(m4b).chapters] == ["Chapter 2"]
        assert sorted(Path(f).suffix for f in files) == [".m4a", ".srt"] and "| 2 | Chapter 2 |" in report
    finally:
        app.close()
