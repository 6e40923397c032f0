"""The rough edges a new user hits in `dh` (issue 16): text files in any encoding, books and binaries refused by
name, inputs checked before slow work, readable subtitle cues, progress in a log, failed clones cleaned up."""
import shutil
import zipfile

import numpy as np
import pytest
import srt

from pipelines.apps import cli
from pipelines.apps.cli import main
from pipelines.audio import save_audio
from pipelines.formats import subtitle_cues, words_to_srt
from pipelines.textfile import read_text_file
from pipelines.types import Audio, Timing


def _timed(text: str, step: float = 0.35) -> list[Timing]:
    return [Timing(w, round(i * step, 3), round(i * step + 0.3, 3)) for i, w in enumerate(text.split())]


def _check_readable(cues) -> None:
    for cue in cues:
        lines = cue.content.split("\n")
        assert len(lines) <= 2 and all(len(line) <= 42 for line in lines), cue.content
        assert (cue.end - cue.start).total_seconds() <= 7.0 + 1e-6


def test_subtitle_cues_are_readable_and_do_not_end_at_abbreviations():
    text = ("Dr. Smith paid $12.50 at 10:30 am. Then he left the U.S. for good, and he never came back to the "
            "dreadful little town where nothing whatsoever had ever happened to anybody at all. Mrs. Jones stayed.")
    words = _timed(text)
    cues = list(srt.parse(words_to_srt(words)))
    _check_readable(cues)
    assert cues[0].content == "Dr. Smith paid $12.50 at 10:30 am."  # "Dr." is not a cue of its own
    assert cues[-1].content == "Mrs. Jones stayed."
    assert " ".join(c.content.replace("\n", " ") for c in cues) == text  # every word once, in order
    assert any("\n" in c.content for c in cues)  # long sentences use the second line
    # the cue times are the words' own
    assert cues[1].start.total_seconds() == pytest.approx(words[7].start)


def test_subtitle_cues_respect_time_for_slow_speech():
    words = _timed("one two three four five six seven eight nine ten", step=1.5)
    cues = subtitle_cues(words)
    assert all(c.end - c.start <= 7.0 for c in cues) and len(cues) >= 2


# --- text files (dh say --file) ---------------------------------------------------------------------------

def test_text_files_in_any_common_encoding(tmp_path):
    text = "Café au lait, naïve résumé — 20 °C.\n"
    for encoding, expect in (("utf-8", "UTF-8"), ("utf-8-sig", "UTF-8"), ("utf-16", "UTF-16"),
                             ("cp1252", "Windows-1252"), ("latin-1", "Windows-1252")):
        path = tmp_path / f"{encoding}.txt"
        path.write_bytes(text.replace("—", "-").encode(encoding) if encoding == "latin-1" else text.encode(encoding))
        read, used = read_text_file(path)
        assert read.replace("—", "-") == text.replace("—", "-") and used == expect, encoding


def test_say_refuses_books_and_binaries_by_name(shared, tmp_path, capsys):
    broken = tmp_path / "broken.epub"
    with zipfile.ZipFile(broken, "w") as z:  # a zip that is not a valid book
        z.writestr("junk.bin", b"\x00\x01" * 100)
    image = tmp_path / "notes.txt"
    shutil.copy(shared / "faces" / "astronaut_eileen_collins.png", image)
    cases = {shared / "books" / "robinson_crusoe_pg521.epub": "is an EPUB book, not plain text; narrate books with: "
                                                              "dh audiobook",
             broken: "is an EPUB book", image: "is a PNG image, not a plain-text file"}
    for path, message in cases.items():
        out = tmp_path / f"{path.stem}.wav"
        assert main(["say", "--file", str(path), "--out", str(out)]) == 2
        err = capsys.readouterr().err
        assert f"{path.name}: {message}" in err and "Traceback" not in err
        assert not out.exists()


@pytest.mark.slow
def test_say_reads_a_latin1_file_with_progress_in_a_log(tmp_path, capsys):
    story = tmp_path / "story.txt"
    story.write_bytes("Dr. Müller ordered a café crème. It was très bon.\n\nThe end.".encode("latin-1"))
    out = tmp_path / "story.wav"
    assert main(["say", "--file", str(story), "--engine", "vits-onnx", "--out", str(out), "--srt"]) == 0
    err = capsys.readouterr().err  # pytest's capture is not a terminal: progress must come as plain lines
    assert "story.txt: read as Windows-1252 text" in err
    progress = [line for line in err.splitlines() if line.startswith(f"say -> {out}:")]
    assert len(progress) >= 2 and "100%" in progress[-1] and "\r" not in err
    cues = list(srt.parse(out.with_suffix(".srt").read_text(encoding="utf-8")))
    assert cues[0].content == "Dr. Müller ordered a café crème."  # decoded right, one cue per sentence
    _check_readable(cues)


# --- dh render: inputs first --------------------------------------------------------------------------------

def test_render_checks_the_face_before_making_speech(tmp_path, capsys, monkeypatch):
    import cv2

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((256, 256, 3), 200, np.uint8))
    built = []
    real_build = cli.build_stage
    monkeypatch.setattr(cli, "build_stage", lambda config, kind: built.append(kind) or real_build(config, kind))
    code = main(["render", "--face", str(blank), "--text", "Hello there.", "--out", str(tmp_path / "v.mp4")])
    assert code == 2 and built == []  # no voice was even loaded
    err = capsys.readouterr().err
    assert "blank.png: no frontal face found" in err and "--mouth" in err


@pytest.mark.slow
def test_render_warns_about_silent_audio(shared, tmp_path, capsys):
    silence = save_audio(tmp_path / "silence.wav", Audio(np.zeros(22050, np.float32), 22050))
    out = tmp_path / "silent.mp4"
    code = main(["render", "--face", str(shared / "faces" / "astronaut_eileen_collins.png"), "--audio", str(silence),
                 "--out", str(out)])
    assert code == 0 and out.stat().st_size > 0  # a warning, not a refusal: a silent video may be wanted
    err = capsys.readouterr().err
    assert "warning: " in err and "silence.wav: audio is silent" in err


# --- dh transcribe --format srt -------------------------------------------------------------------------------

@pytest.mark.slow
def test_transcribe_srt_cues_are_readable(shared, tmp_path):
    assert main(["transcribe", str(shared / "asr/en/jfk.flac"), "--format", "srt", "--out", str(tmp_path)]) == 0
    cues = list(srt.parse((tmp_path / "jfk.srt").read_text(encoding="utf-8")))
    assert len(cues) >= 2  # the 11-second sentence is no longer one 107-character cue
    _check_readable(cues)
    spoken = " ".join(c.content.replace("\n", " ") for c in cues).lower()
    assert "ask not what your country can do for you" in spoken


# --- dh clone on bad clips ----------------------------------------------------------------------------------

@pytest.mark.slow
def test_clone_names_the_clips_it_rejects_and_leaves_no_folder(tmp_path, capsys, monkeypatch):
    voices = tmp_path / "voices"
    monkeypatch.setenv("DH_VOICES_DIR", str(voices))
    clips = tmp_path / "clips"
    clips.mkdir()
    save_audio(clips / "silent.wav", Audio(np.zeros(22050 * 2, np.float32), 22050))
    rng = np.random.default_rng(0)
    save_audio(clips / "blip.wav", Audio(0.3 * rng.standard_normal(220).astype(np.float32), 22050))  # 10 ms
    code = main(["clone", str(clips), "--name", "rose", "--consent", "test clips"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "reshape" not in err
    assert "silent.wav: silent" in err and "blip.wav: too short" in err
    assert "clone rose:" in err and "\r" not in err  # progress as plain lines when stderr is not a terminal
    assert not (voices / "rose").exists()  # nothing half-made is left behind


def test_voices_lists_unfinished_clones(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DH_VOICES_DIR", str(tmp_path))
    (tmp_path / "grandma" / "training").mkdir(parents=True)
    (tmp_path / "grandma" / "dataset").mkdir()
    (tmp_path / "guest" / "dataset").mkdir(parents=True)
    (tmp_path / "guest" / "dataset" / "metadata.tsv").write_text("file\ttext\n")
    assert main(["voices"]) == 0
    out = capsys.readouterr().out
    assert "grandma" in out and "empty leftover of a failed clone" in out
    assert "guest" in out and "dh clone DATA --name guest --resume" in out


# --- dh demo beyond localhost ------------------------------------------------------------------------------

def test_demo_beyond_localhost_needs_a_login(capsys):
    assert main(["demo", "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err
    assert "without a login" in err and "--auth" in err


def test_clone_help_lists_what_each_preset_gives_one_paragraph_each(capsys):
    from voices.finetune import PRESETS

    with pytest.raises(SystemExit):
        main(["clone", "--help"])
    text = capsys.readouterr().out
    listing = text[text.index("presets (measured figures):"):].splitlines()[1:]
    starts = [line.split()[0] for line in listing if not line.startswith(" " * 9)]
    assert starts == list(PRESETS)                       # each preset starts its own paragraph, in order
    assert all(len(line) <= 100 for line in listing)     # wrapped for a terminal
    joined = " ".join(line.strip() for line in listing)
    assert all(" ".join(p.gives.split()) in joined for p in PRESETS.values())   # nothing cut


def test_clone_summary_gives_pitch_and_melody_beside_the_persons(tmp_path, capsys, monkeypatch):
    """What `dh clone` prints when it is done: the report's figures, the person's beside the clone's."""
    from types import SimpleNamespace

    import voices.finetune

    quality = {"clone_similarity": 0.746, "base_similarity": 0.458, "real_clips_similarity": 0.952,
               "clone_wer": 0.027, "base_wer": 0.021, "clone_pitch_hz": 223.2, "person_pitch_hz": 233.8,
               "clone_pitch_spread": 3.85, "person_pitch_spread": 4.48, "verdict": "not yet good enough: …",
               "clone_dnsmos": 2.54, "base_dnsmos": 3.32, "person_dnsmos": 3.28}
    profile = SimpleNamespace(name="lj", folder=tmp_path, base="joe", pitch_shift=16.5, melody_gain=2.3,
                              quality=quality,
                              training={"kept_step": 100, "trained_steps": 150, "kept_because": "highest"})
    asked = []
    monkeypatch.setattr(voices.finetune, "clone_voice", lambda data, options, **k: asked.append(options) or profile)
    monkeypatch.setattr(cli, "build_stage", lambda config, kind: None)
    assert main(["clone", str(tmp_path), "--name", "lj", "--consent", "test"]) == 0
    out = capsys.readouterr().out
    assert "median pitch: clone 223 Hz, the person 234 Hz (trained in joe's register" in out
    assert "melody (pitch spread): clone 3.85 semitones (with joe's melody, x 2.3), the person 4.48" in out
    assert "how clean it sounds (DNSMOS, 1-5): clone 2.54, base 3.32, the person's clips 3.28" in out
    assert "kept step 100 of 150" in out
    assert asked[-1].borrow_melody and asked[-1].match_pitch
    assert main(["clone", str(tmp_path), "--name", "lj", "--consent", "test", "--own-melody"]) == 0
    assert not asked[-1].borrow_melody
