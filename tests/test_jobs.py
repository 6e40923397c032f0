"""The long-job runner: atomic state, content-hash pieces that survive kill -9, progress for people and logs."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from pipelines.jobs import Job, ProgressLine, atomic_write, content_key, fan_out, scaled

ROOT = Path(__file__).resolve().parents[1]


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_content_key_changes_with_any_input_and_is_stable():
    a = content_key("hello", {"voice": "joe", "speed": 1.0})
    assert a == content_key("hello", {"speed": 1.0, "voice": "joe"})  # dict order does not matter
    assert a != content_key("hello.", {"voice": "joe", "speed": 1.0})
    assert a != content_key("hello", {"voice": "joe", "speed": 1.1})
    assert content_key("ab", "c") != content_key("a", "bc")  # parts are length-prefixed


def test_state_and_pieces_persist_and_bad_pieces_are_not_trusted(tmp_path):
    job = Job(tmp_path / "work")
    job.save(stage="listening", done=[1, 2])
    key = content_key("window", 0)
    job.put_json(key, {"text": "hi"})
    again = Job(tmp_path / "work")
    assert again.state == {"stage": "listening", "done": [1, 2]}
    assert again.get_json(key) == {"text": "hi"} and again.has(key)
    calls = []
    assert again.cached_json(key, lambda: calls.append(1)) == {"text": "hi"} and not calls
    other = content_key("window", 1)
    assert again.cached_json(other, lambda: {"text": "new"}) == {"text": "new"}
    assert again.keys() == {key, other}
    assert again.prune([key], ".json") == 1 and again.keys() == {key}
    again.piece(key).write_text("{not json")  # only a hand edit can do this; it must not be trusted
    assert again.get_json(key) is None and not again.has(key)


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "a" / "state.json"
    atomic_write(target, "old")
    atomic_write(target, json.dumps({"new": True}))
    assert json.loads(target.read_text()) == {"new": True}
    assert [p.name for p in target.parent.iterdir()] == ["state.json"]


def test_a_job_killed_with_sigkill_resumes_without_redoing_finished_pieces(tmp_path):
    """A child process computes 40 pieces slowly and is killed mid-way; the rerun computes only the rest."""
    script = tmp_path / "work.py"
    script.write_text(textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from pipelines.jobs import Job, content_key
        job = Job(sys.argv[1])
        computed = 0
        for i in range(40):
            key = content_key("piece", i)
            if job.has(key):
                continue
            time.sleep(0.05)
            job.put_json(key, {{"i": i, "square": i * i}})
            computed += 1
            job.save(last=i)
            print(i, flush=True)
        print("computed", computed, flush=True)
    """))
    work = tmp_path / "job"
    child = subprocess.Popen([sys.executable, str(script), str(work)], stdout=subprocess.PIPE, text=True)
    seen = 0
    while seen < 10:  # wait for ten finished pieces, then kill without warning
        if child.stdout.readline().strip():
            seen += 1
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=10)
    finished = Job(work).keys()
    assert 10 <= len(finished) < 40
    assert all(Job(work).get_json(k) is not None for k in finished)  # every stored piece is whole
    out = subprocess.run([sys.executable, str(script), str(work)], capture_output=True, text=True, timeout=60)
    computed = int(out.stdout.strip().splitlines()[-1].split()[-1])
    assert computed == 40 - len(finished)
    assert Job(work).state["last"] == 39
    values = sorted(Job(work).get_json(content_key("piece", i))["square"] for i in range(40))
    assert values == sorted(i * i for i in range(40))


def test_progress_in_a_log_is_a_plain_line_every_few_seconds_or_percent():
    clock, log = FakeClock(), io.StringIO()
    line = ProgressLine("clone lj", log, tty=False, every_s=10, every_fraction=0.05, clock=clock)
    for step in range(1, 1001):  # 1000 steps of 1.2 s: 20 minutes of training
        clock.now += 1.2
        line(step / 1000, f"step {step}/1000")
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert 20 <= len(lines) <= 130  # a few dozen lines, not 1000 and not none
    assert lines[-1].startswith("clone lj: 100% step 1000/1000")
    assert "left" in lines[len(lines) // 2]  # an ETA while running
    assert "~10:" in lines[len(lines) // 2] or "~9:" in lines[len(lines) // 2]  # half of 20 minutes remains


def test_a_log_keeps_every_new_kind_of_message_however_soon_it_comes():
    """A clone said its preset, the person's pitch and their melody within a second: a log kept only the
    first; repeats of one kind ("step 34/150") are still thinned out."""
    clock, log = FakeClock(), io.StringIO()
    line = ProgressLine("clone lj", log, tty=False, every_s=10, clock=clock)
    line(0.0, "preparing the clips")
    line(0.15, "the person speaks at 226 Hz, joe at 88 Hz")
    line(0.15, "the person moves their pitch 4.5 semitones, joe 2.0")
    for step in range(1, 101):
        clock.now += 0.5
        line(0.3 + 0.6 * step / 100, f"step {step}/100: mel {30 - step / 10:.2f}")
    text = log.getvalue()
    assert "preparing the clips" in text and "226 Hz" in text and "4.5 semitones" in text
    assert 2 <= text.count("step ") <= 25


def test_a_message_that_says_its_own_time_left_is_not_contradicted():
    """After a minute of scoring at 30 %, a clone's first step said "~10 min of training and scoring left"
    and the line added "~3:14:31 left" from the bar's pace; a message without its own keeps the bar's."""
    clock, log = FakeClock(), io.StringIO()
    line = ProgressLine("clone lj", log, tty=False, every_s=0, clock=clock)
    line(0.3, "scoring the base voice")
    clock.now += 60
    line(0.3, "scored step 0")
    clock.now += 2
    line(0.305, "step 1/150: mel 45.21 · 2.4 s/step, ~10 min of training and scoring left")
    clock.now += 2
    line(0.31, "moved 2 of 21 clips")
    first, second = log.getvalue().strip().splitlines()[-2:]
    assert first.endswith("~10 min of training and scoring left · 1:02 elapsed"), first
    assert second.count(" left") == 1 and "elapsed, ~" in second, second


def test_eta_forgets_work_skipped_at_a_resume():
    """A resumed clone jumped to 50 % in seconds, then trained 300 steps of 5.3 s: its ETA said "~0:40 left"."""
    clock, log = FakeClock(), io.StringIO()
    line = ProgressLine("clone lj", log, tty=False, clock=clock)
    line(0.0, "preparing the clips")
    clock.now += 4
    line(0.5, "resumed at step 150 of 450")
    for step in range(151, 451):
        clock.now += 5.3
        line(0.3 + 0.6 * step / 450, f"step {step}/450")
        if step in (152, 155, 180, 300):  # 11 s to 13 min after the jump: the training's pace, not the jump's
            fraction = 0.3 + 0.6 * step / 450
            left = line.eta(fraction)
            assert left == pytest.approx((1 - fraction) / (0.6 / 450 / 5.3), rel=0.1), (step, left)


def test_eta_counts_a_pause_as_time_spent():
    """A clone scores its voice every few steps without reporting: that time is part of what is left."""
    clock = FakeClock()
    line = ProgressLine("clone lj", io.StringIO(), tty=False, clock=clock)
    fraction = 0.0
    for i in range(1, 200):   # 10 steps of 1 s, then 10 s scoring at the same fraction, and again
        pause = i % 11 == 0
        clock.now += 10 if pause else 1
        fraction += 0 if pause else 0.001
        line(fraction, "scored" if pause else "step")
    assert line.eta(fraction) == pytest.approx((1 - fraction) / (0.01 / 20), rel=0.3)


def test_progress_on_a_terminal_is_one_updating_line():
    clock, tty = FakeClock(), io.StringIO()
    line = ProgressLine("say", tty, tty=True, clock=clock)
    for i in range(1, 5):
        clock.now += 1
        line(i / 4, f"sentence {i}/4")
    text = tty.getvalue()
    assert text.count("\r") == 4 and text.count("\n") == 1 and text.endswith("\n")


def test_fan_out_and_scaled_feed_every_sink_in_range():
    a, b = [], []
    sink = fan_out(lambda f, m="": a.append(f), None, lambda f, m="": b.append((f, m)))
    part = scaled(sink, 0.3, 0.9)
    part(0.0, "x")
    part(0.5, "y")
    part(2.0, "z")
    assert [round(x, 6) for x in a] == [0.3, 0.6, 0.9] and b[1][1] == "y" and round(b[1][0], 6) == 0.6


def test_cli_progress_goes_to_a_log_file_when_stderr_is_not_a_terminal(tmp_path):
    """What `dh clone 2> log` relies on: the CLI's progress sink writes plain lines to a file."""
    code = ("from pipelines.apps.cli import _progress_printer\n"
            "p = _progress_printer('clone x')\n"
            "for i in range(1, 21):\n    p(i / 20, f'step {i}/20')\n")
    log = tmp_path / "err.log"
    with open(log, "w") as err:
        subprocess.run([sys.executable, "-c", code], stderr=err, check=True, timeout=60, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = log.read_text().splitlines()
    assert lines and lines[-1].startswith("clone x: 100% step 20/20") and len(lines) >= 5

