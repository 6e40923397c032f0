import json

import srt
import webvtt

from pipelines.formats import render
from pipelines.types import Segment, Transcript, Word

T = Transcript("Hello there. 你好世界", "en", (
    Segment(0.0, 1.25, "Hello there.", (Word("Hello", 0.0, 0.5), Word("there.", 0.5, 1.25))),
    Segment(3661.5, 3663.0, "你好世界", ()),
), 3663.0)


def test_srt_reads_back_with_a_real_parser():
    subs = list(srt.parse(render(T, "srt")))
    assert [s.content for s in subs] == ["Hello there.", "你好世界"]
    assert subs[1].start.total_seconds() == 3661.5 and subs[1].end.total_seconds() == 3663.0


def test_vtt_reads_back_with_a_real_parser(tmp_path):
    path = tmp_path / "t.vtt"
    path.write_text(render(T, "vtt"), encoding="utf-8")
    captions = webvtt.read(str(path))
    assert [c.text for c in captions] == ["Hello there.", "你好世界"]
    assert captions[1].start == "01:01:01.500"


def test_json_holds_text_language_segments_and_words():
    data = json.loads(render(T, "json"))
    assert data["text"] == T.text and data["language"] == "en"
    first = data["segments"][0]
    assert {"start", "end", "text", "words"} <= set(first)
    assert first["words"][1] == {"text": "there.", "start": 0.5, "end": 1.25, "probability": None}


def test_txt_is_the_text():
    assert render(T, "txt") == T.text + "\n"
