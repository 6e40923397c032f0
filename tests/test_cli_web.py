"""The apps as a user runs them: `dh transcribe` on real files, and the Gradio page over HTTP."""
import json
import socket

import pytest
import srt

from pipelines.apps.cli import main

pytestmark = pytest.mark.slow


def test_transcribe_writes_json_and_skips_a_bad_file(shared, tmp_path, capsys):
    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    out = tmp_path / "out"
    code = main(["transcribe", str(shared / "asr/en/jfk.flac"), str(bad), "--format", "json", "--out", str(out)])
    assert code == 1  # one file failed
    err = capsys.readouterr().err
    assert "notes.wav: not a readable audio" in err and "Traceback" not in err
    data = json.loads((out / "jfk.json").read_text())
    assert set(data) >= {"text", "language", "segments"} and data["language"] == "en"
    assert "ask not what your country" in data["text"].lower()
    words = [w for s in data["segments"] for w in s["words"]]
    assert all({"text", "start", "end"} <= set(w) for w in words) and words[0]["start"] >= 0
    assert not (out / "notes.json").exists()


def test_transcribe_srt_with_the_reference_engine_and_no_silent_overwrite(shared, tmp_path, capsys):
    args = ["transcribe", str(shared / "asr/en/251-118436-0001.wav"), "--engine", "whisper",
            "--language", "en", "--format", "srt", "--out", str(tmp_path)]
    assert main(args) == 0
    target = tmp_path / "251-118436-0001.srt"
    subs = list(srt.parse(target.read_text()))
    assert "poison" in " ".join(s.content for s in subs).lower()
    target.write_text("my edits")
    assert main(args) == 1
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert target.read_text() == "my edits"
    assert main(args + ["--overwrite"]) == 0 and "poison" in target.read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_web_demo_transcribes_an_upload(shared):
    from gradio_client import Client, handle_file

    from pipelines import registry
    from pipelines.config import load_config
    from pipelines.apps.web import launch

    port = _free_port()
    app = launch(load_config(), port=port, block=False, warm=False)
    try:
        # the page's engine picker offers exactly the registry's names
        dropdowns = [c for c in app.config["components"] if c.get("type") == "dropdown"]
        engine_choices = [[v for v, _ in d["props"]["choices"]] for d in dropdowns]
        assert registry.names("asr") in engine_choices
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        text, language, srt_path, details = client.predict(
            handle_file(str(shared / "asr/en/jfk.flac")), "faster-whisper", "auto-detect", api_name="/transcribe")
        assert "ask not what your country" in text.lower() and language == "en"
        assert list(srt.parse(open(srt_path).read()))
        assert details["segments"][0]["words"]
        with pytest.raises(Exception, match=r"^'?alice_chapter01.txt: has no audio track") as err:
            bad = shared / "books" / "alice_chapter01.txt"
            client.predict(handle_file(str(bad)), "faster-whisper", "auto-detect", api_name="/transcribe")
        assert "/tmp" not in str(err.value)
    finally:
        app.close()
