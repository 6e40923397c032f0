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
