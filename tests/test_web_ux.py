"""The demo's pieces that need no browser: the line visitors wait in, and who may reach the server."""
import threading
import time

import pytest

from pipelines.apps.web import check_exposure, is_local
from pipelines.apps.web.common import Line
from pipelines.errors import DigitalHumanError


def test_the_line_serves_in_order_and_says_where_each_one_stands():
    line = Line()
    tickets = [line.join() for _ in range(3)]
    assert [t.ahead() for t in tickets] == [0, 1, 2]
    assert line.wait_s(2) is None  # no estimate before one turn was measured
    assert tickets[0].wait(0.01) and not tickets[1].wait(0.01)
    served = []

    def visitor(i):
        while not tickets[i].wait(0.05):
            pass
        served.append(i)
        tickets[i].leave()

    threads = [threading.Thread(target=visitor, args=(i,)) for i in (2, 1)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    assert served == []  # nobody jumps the one being served
    tickets[0].leave()
    for t in threads:
        t.join(5)
    assert served == [1, 2]
    assert line.wait_s(2) is not None and line.wait_s(2) >= 0


def test_a_visitor_who_left_does_not_block_the_line(monkeypatch):
    line = Line()
    monkeypatch.setattr(Line, "STALE_S", 0.2)
    first, gone, last = line.join(), line.join(), line.join()
    assert first.wait(0.01)
    first.leave()
    time.sleep(0.3)  # `gone` never asks again: its page was closed while it waited
    assert last.wait(1.0) and last.ahead() == 0


@pytest.mark.parametrize("host,local", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                        ("0.0.0.0", False), ("192.168.1.20", False), ("my-laptop", False)])
def test_only_loopback_counts_as_local(host, local):
    assert is_local(host) is local


def test_beyond_localhost_a_login_is_required_or_loudly_waived(capsys):
    check_exposure("127.0.0.1", False, None, False)  # local: fine as it is
    check_exposure("0.0.0.0", False, ("me", "secret"), False)  # with a login: fine
    with pytest.raises(DigitalHumanError, match="without a login"):
        check_exposure("0.0.0.0", False, None, False)
    with pytest.raises(DigitalHumanError, match="public share link"):
        check_exposure("127.0.0.1", True, None, False)
    check_exposure("0.0.0.0", False, None, True)
    assert "WITHOUT A LOGIN" in capsys.readouterr().err


def test_the_persona_line_names_the_persona_not_a_template_placeholder():
    from pipelines.apps.web.persona_panel import describe, facts_text
    from pipelines.llm.persona import Persona

    for persona in (Persona(), Persona(name="Mei")):
        shown = describe(persona) + facts_text(persona)
        assert "{name}" not in shown and f"{persona.name} is a digital human" in shown


def test_a_built_persona_is_introduced_by_who_they_are_not_by_prompt_instructions():
    from pipelines.apps.web.persona_panel import BuiltPersona, describe
    from pipelines.llm.persona import Persona

    built = BuiltPersona("mei", Persona(name="Mei Lin", style="you are a real person, not an assistant"),
                         "Mei Lin, a bridge engineer")
    line = describe(built)
    assert "Talking to Mei Lin" in line and "bridge engineer" in line and "not an assistant" not in line


def test_the_default_portrait_suits_the_default_voice_and_extra_portraits_follow(monkeypatch, tmp_path):
    import shutil

    from pipelines.apps.web import common
    from voices.profiles import list_voices

    faces = common.portraits()
    assert list(faces)[:2] == ["GRID reader", "Eileen Collins"] and all(p.is_file() for p in faces.values())
    assert "male" in next(v for v in list_voices() if v.name == "joe").description.lower().split()  # a man's voice
    for path in faces.values():
        shutil.copy(path, tmp_path / path.name)
    shutil.copy(faces["Eileen Collins"], tmp_path / "ada_lovelace.jpg")
    monkeypatch.setattr(common, "PORTRAITS_DIR", tmp_path)
    assert list(common.portraits()) == ["GRID reader", "Eileen Collins", "Ada Lovelace"]


def test_warming_up_has_the_llm_read_the_starting_personas_prompt_before_anyone_asks(monkeypatch, tmp_path):
    """The first visitor should not wait for the persona's prompt (~8 s on 2 cores with the bundled model)."""
    from pipelines.apps.web import warm_up
    from pipelines.apps.web.common import AppContext
    from pipelines.llm.conversation import Conversation
    from pipelines.llm.persona import Persona

    monkeypatch.setenv("DH_PERSONAS_DIR", str(tmp_path / "none"))

    class KeepsPrefix:
        def __init__(self):
            self.kept = []

        def keep_prefix(self, messages, *, now=False):
            self.kept.append((list(messages), now))

    llm = KeepsPrefix()
    monkeypatch.setattr(AppContext, "stage", lambda self, kind, *a, **k: llm)
    warm_up(AppContext({})).join(30)
    assert llm.kept == [(Conversation(llm, Persona()).prefix(), True)]


def test_the_voice_lab_gives_the_verdicts_advice_in_the_pages_own_words():
    """The verdict is written for the CLI (`--resume with --preset good`); the Voice Lab has a Resume box, a
    Preset list and a Words margin instead, and names those."""
    from pipelines.apps.web.voice_lab import in_the_labs_words
    from voices.report import judge

    far = {"clone_similarity": 0.66, "base_similarity": 0.46, "clone_wer": 0.03, "real_clips_similarity": 0.95}
    curve = [{"step": 0, "similarity": 0.47, "wer": 0.010}, {"step": 150, "similarity": 0.76, "wer": 0.045}]
    verdicts = [judge(far, {"person": 230.0, "clone": 211.0}, {"preset": "draft"})[1],
                judge({**far, "clone_similarity": 0.47, "clone_wer": 0.01}, {"person": 230.0, "clone": 228.0},
                      {"curve": curve, "kept": curve[0], "preset": "draft"})[1],
                judge({**far, "clone_wer": 0.3}, {"person": None, "clone": None}, {})[1],
                judge(far, {"person": 230.0, "clone": 211.0}, {"stopped": 400, "preset": "good"})[1]]
    assert all("--" in v or "metadata.tsv" in v for v in verdicts)   # what the CLI shows
    shown = [in_the_labs_words(v) for v in verdicts]
    assert not any("--" in v or "metadata.tsv" in v for v in shown)
    assert "tick Resume and pick the `good` preset" in shown[0] and "the `gpu` preset" in shown[0]
    assert "the `clear` preset" in shown[1] and "a larger Words margin" in shown[1]
    assert "tick Resume and pick the `good` preset" in shown[1]   # a draft that kept nothing: go on to `good`
    assert "the labels in the table above" in shown[2]


def test_the_voice_lab_says_how_a_finished_clone_speaks(tmp_path):
    """Beside similarity and WER, the register it was moved from and the melody it speaks with: a clone can
    score well and still sound monotone, and the table shows it."""
    import tomli_w

    from pipelines.apps.web.voice_lab import clone_summary
    from voices.profiles import read_profile

    quality = {"verdict": "not yet good enough", "base_similarity": 0.458, "base_wer": 0.021, "clone_similarity": 0.771,
               "clone_wer": 0.067, "base_pitch_hz": 87.0, "clone_pitch_hz": 223.0, "person_pitch_hz": 234.0,
               "base_pitch_spread": 1.99, "clone_pitch_spread": 3.85, "person_pitch_spread": 4.48,
               "base_dnsmos": 3.32, "clone_dnsmos": 2.54, "person_dnsmos": 3.28}
    (tmp_path / "voice.toml").write_text(tomli_w.dumps({"name": "lj", "weights": "model.pth", "pitch_shift": 16.5,
                                                        "melody_gain": 2.3, "quality": quality,
                                                        "training": {"minutes": 17.8, "steps": 150}}))
    text = clone_summary(read_profile(tmp_path))
    assert "| clone | 0.771 | 6.7% | 223 Hz | 3.85 semitones | 2.54 |" in text
    assert "| the person | | | 234 Hz | 4.48 semitones | 3.28 |" in text
    assert "spoken +16.5 semitones" in text and "melody, x 2.3" in text
    (tmp_path / "voice.toml").write_text(tomli_w.dumps({"name": "lj", "weights": "model.pth",
                                                        "quality": {k: v for k, v in quality.items() if k != "clone_pitch_spread"}}))
    text = clone_summary(read_profile(tmp_path))
    assert "| 223 Hz | – | 2.54 |" in text and "melody, x" not in text and "semitones from it" not in text
