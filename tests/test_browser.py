"""The demo as a person uses it: a real headless Chromium (Debian's) driven by Playwright."""
import shutil
import socket
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RUNNING = {}  # the app under test, for the checks that change how it is exposed
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    import os

    from pipelines.config import load_config
    from pipelines.apps.web import launch

    old = os.environ.get("DH_VOICES_DIR")
    voices = tmp_path_factory.mktemp("voices")
    os.environ["DH_VOICES_DIR"] = str(voices)  # the lab writes here, not in $HOME
    _a_cloned_person(voices)
    old_personas = os.environ.get("DH_PERSONAS_DIR")
    personas = tmp_path_factory.mktemp("personas")
    os.environ["DH_PERSONAS_DIR"] = str(personas)
    (personas / "ada.toml").write_text('name = "Ada"\nstyle = "a violinist from Shanghai, curious"\n'
                                       'facts = ["Ada plays in an orchestra."]\n', encoding="utf-8")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = launch(load_config(None, ["tts.engine=vits-onnx"]), port=port, block=False, warm=False)
    RUNNING["app"] = app
    yield f"http://127.0.0.1:{port}/"
    app.close()
    if old is None:
        os.environ.pop("DH_VOICES_DIR", None)
    else:
        os.environ["DH_VOICES_DIR"] = old
    if old_personas is None:
        os.environ.pop("DH_PERSONAS_DIR", None)
    else:
        os.environ["DH_PERSONAS_DIR"] = old_personas


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not installed (make setup installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _a_cloned_person(voices):
    """What a clone leaves on disk: weights, recordings, transcripts and a consent record."""
    folder = voices / "rose"
    (folder / "dataset" / "wavs").mkdir(parents=True)
    (folder / "model.pth").write_bytes(b"private weights " * 64)
    clip = sorted((SHARED / "voice/ljspeech/wavs").glob("*.wav"))[0]
    shutil.copy(clip, folder / "dataset" / "wavs" / "0001.wav")
    (folder / "dataset" / "metadata.tsv").write_text("file\ttext\n0001.wav\tmy private words\n")
    (folder / "voice.toml").write_text('name = "rose"\nweights = "model.pth"\n[consent]\nwho = "Rose Smith"\n')


def _wait_for_video(page, timeout_ms=240_000):
    page.wait_for_function(
        "() => { const v = document.querySelector('#talk-video video'); return v && v.src && v.src.length > 0 }",
        timeout=timeout_ms)
    return page.eval_on_selector("#talk-video video", "v => v.src")


def test_upload_a_question_and_get_a_talking_reply(browser, app_url, shared, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(app_url)
    still = page.get_attribute("#talk-still img", "src")  # before the first turn: the portrait, and what to do
    assert still and "then press Send" in page.inner_text("#talk-hint")
    # the bundled voice is a man's, so the default face is too (not a woman speaking in a man's voice)
    assert "face of GRID reader" in page.inner_text("#talk-hint") and "grid_reader" in still
    page.click("#talk-audio button[aria-label='Upload file']")
    page.set_input_files("#talk-audio input[type=file]", str(shared / "asr/en/jfk.flac"))
    page.wait_for_selector("#talk-status .dh-ready", timeout=30_000)  # checked on arrival, before Send
    assert "11.0 s" in page.inner_text("#talk-status")
    page.click("#talk-send")
    page.wait_for_function("() => document.querySelector('#talk-send').disabled", timeout=10_000)
    src = _wait_for_video(page)
    assert src.endswith(".mp4") or "mp4" in src
    page.wait_for_function("() => document.querySelector('#talk-timings').innerText.includes('video')",
                           timeout=240_000)
    assert "from pressing Send" in page.inner_text("#talk-timings")
    src = _wait_for_video(page, 1000)  # the whole reply's video (the first sentence's came before it)
    assert page.is_enabled("#talk-send") and "Done" in page.inner_text("#talk-status")
    heard = page.input_value("#talk-heard textarea")
    assert "ask not what your country" in heard.lower()
    chat = page.inner_text("#talk-chat")
    assert "ask not" in chat.lower() and len(chat.strip()) > len(heard)  # the reply is in the chat too
    assert page.query_selector("#talk-audio audio[src]") is None  # the recording is not sent again
    shot = tmp_path / "talk.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000

    # a mistake after that: one message in the status line; the conversation and the video stay
    page.click("#talk-send")
    page.wait_for_selector("#talk-status .dh-error", timeout=30_000)
    assert "record, upload or type something first" in page.inner_text("#talk-status")
    assert page.inner_text("#talk-chat") == chat and _wait_for_video(page, 1000) == src
    page.close()


def test_bad_inputs_are_refused_when_uploaded(browser, app_url, tmp_path):
    import cv2
    import numpy as np

    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((300, 300, 3), 180, np.uint8))
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(app_url)
    page.click("#talk-audio button[aria-label='Upload file']")
    page.set_input_files("#talk-audio input[type=file]", str(bad))
    page.wait_for_selector("#talk-status .dh-error", timeout=30_000)  # no Send needed
    assert "notes.wav: not a readable audio" in page.inner_text("#talk-status")
    assert page.query_selector("#talk-audio audio[src]") is None  # the broken file is not kept
    page.click("text=Stages, voice and face")
    page.set_input_files("#talk-upload input[type=file]", str(blank))
    page.wait_for_function("() => document.querySelector('#talk-status').innerText.includes('wall.png')",
                           timeout=30_000)
    assert "no frontal face found" in page.inner_text("#talk-status")
    assert page.input_value("#talk-face input") != "(upload your own)"
    page.close()


def test_an_uploaded_portrait_is_selected_and_shown(browser, app_url, shared):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(app_url)
    page.click("text=Stages, voice and face")
    page.set_input_files("#talk-upload input[type=file]", str(shared / "faces" / "bbaf2n_frame0.png"))
    page.wait_for_selector("#talk-status .dh-ready", timeout=30_000)
    assert page.input_value("#talk-face input") == "(upload your own)"
    assert "your portrait" in page.inner_text("#talk-hint")
    assert "joe" in page.inner_text("#talk-hint")  # which voice speaks is said
    page.wait_for_function("() => (document.querySelector('#talk-still img')?.src || '').includes('bbaf2n')",
                           timeout=10_000)
    page.close()


def test_the_persona_is_introduced_and_can_be_edited(browser, app_url, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(app_url)
    assert "Talking to Alex" in page.inner_text("#talk-persona")
    page.click("text=Who answers (persona)")
    page.fill("#talk-persona-name textarea", "Rose")
    page.fill("#talk-persona-style textarea", "a retired teacher from Leeds, kind and brief")
    page.click("#talk-persona-apply")
    page.wait_for_function("() => document.querySelector('#talk-persona').innerText.includes('Talking to Rose')",
                           timeout=10_000)
    assert "retired teacher" in page.inner_text("#talk-persona")
    assert "Alex" not in page.inner_text("#talk-persona")  # the default facts follow the new name
    assert "Rose answers here" in page.inner_text("#talk-hint")
    page.click("#talk-persona-pick input")  # a persona file from the personas folder
    page.click("[role=option]:has-text('Ada (ada)')")
    page.wait_for_function("() => document.querySelector('#talk-persona').innerText.includes('Talking to Ada')",
                           timeout=10_000)
    assert "violinist" in page.inner_text("#talk-persona")
    assert page.input_value("#talk-persona-name textarea") == "Ada"  # ready to be edited
    page.screenshot(path=str(tmp_path / "persona.png"), full_page=True)
    page.close()


def test_private_files_are_never_served(browser, app_url, tmp_path):
    """A cloned person's weights, recordings and transcripts, and any file outside the app's folders: refused."""
    import os

    voices = Path(os.environ["DH_VOICES_DIR"])
    outside = tmp_path / "secret.txt"
    outside.write_text("not for the web")
    page = browser.new_page()
    page.goto(app_url)
    served = page.get_attribute("#talk-still img", "src")  # what the page needs is served...
    assert page.request.get(served).status == 200
    for path in (voices / "rose" / "model.pth", voices / "rose" / "dataset" / "wavs" / "0001.wav",
                 voices / "rose" / "dataset" / "metadata.tsv", voices / "rose" / "voice.toml", outside,
                 Path(__file__)):  # ...nothing else
        assert path.is_file()
        for prefix in ("gradio_api/file=", "file="):
            status = page.request.get(f"{app_url}{prefix}{path}").status
            assert status in (403, 404), (path, prefix, status)
    page.close()


def test_podcast_summary_times_seek_the_uploaded_audio(browser, app_url, shared):
    """The summary's player plays the upload and a chapter time moves it (it was refused with a 403 and
    showed 0:00 / 0:00)."""
    page = browser.new_page()
    page.goto(app_url)
    page.get_by_role("tab", name="Podcast").click()
    page.set_input_files("#podcast-file input[type=file]", str(shared / "podcast/dev00.wav"))
    page.wait_for_timeout(2000)
    page.click("#podcast-run")
    page.wait_for_function("() => { const a = document.getElementById('podcast-player'); "
                           "return a && a.readyState >= 1 || (a && a.error); }", timeout=300_000)
    assert page.evaluate("document.getElementById('podcast-player').error") is None
    assert abs(page.evaluate("document.getElementById('podcast-player').duration") - 30.0) < 1.0
    seek = page.locator(".podcast-seek").nth(1)
    target = float(seek.get_attribute("data-t"))
    seek.click()
    page.wait_for_timeout(500)
    assert page.evaluate("document.getElementById('podcast-player').currentTime") >= target - 0.1 > 0
    page.close()

def test_four_sessions_at_once(browser, app_url):
    pages = [browser.new_context().new_page() for _ in range(4)]
    for i, page in enumerate(pages):
        page.goto(app_url)
        page.fill("#talk-text textarea", f"Hello, I am visitor number {i + 1}. How are you?")
    for i, page in enumerate(pages):  # all four requests in flight together; the first presses Enter
        page.press("#talk-text textarea", "Enter") if i == 0 else page.click("#talk-send")
    for i, page in enumerate(pages):  # each sees their question at once (no fixed sleep: a warm turn is quick)
        page.wait_for_function("n => document.querySelector('#talk-chat').innerText.includes(n)",
                               arg=f"visitor number {i + 1}", timeout=20_000)
    for i, page in enumerate(pages):  # ... and Send disabled, the text box cleared
        assert page.is_disabled("#talk-send") and page.input_value("#talk-text textarea") == ""
    deadline = time.monotonic() + 10
    while True:  # the place in line is refreshed every half second
        statuses = [page.inner_text("#talk-status") for page in pages]
        if sum("in line" in s for s in statuses) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sum("in line" in s for s in statuses) == 3, statuses  # one is served, three know their place
    assert sorted(s.split("You are ")[1].split(" in line")[0] for s in statuses if "in line" in s) == \
        ["2nd", "3rd", "4th"]
    sources = [_wait_for_video(page, 300_000) for page in pages]
    assert len(set(sources)) == 4  # each session got its own reply video
    for i, page in enumerate(pages):
        page.wait_for_function("() => !document.querySelector('#talk-send').disabled", timeout=300_000)
        assert f"visitor number {i + 1}" in page.inner_text("#talk-chat")
        page.context.close()


def test_a_visitor_cannot_open_someone_elses_voice(browser, app_url, shared):
    """Served beyond localhost, the Voice Lab opens only voices started in the same browser session."""
    ctx = RUNNING["app"].dh_context
    ctx.owner_present = False  # as when served on the network
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(app_url)
        page.click("button[role=tab]:has-text('Voice Lab')")
        clip = sorted((shared / "voice/ljspeech/wavs").glob("*.wav"))[0]
        page.set_input_files("#lab-files input[type=file]", [str(clip)])
        page.fill("#lab-name textarea", "rose")  # made by someone else (the fixture)
        page.click("#lab-prepare")
        page.wait_for_selector("text=a voice named 'rose' already exists", timeout=30_000)
        assert "my private words" not in page.inner_text("#lab-labels")
        page.close()
    finally:
        ctx.owner_present = True


def test_voice_lab_prepares_and_labels_uploaded_clips(browser, app_url, shared, tmp_path):
    clips = sorted((shared / "voice/ljspeech/wavs").glob("*.wav"))[:4]
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(app_url)
    page.click("button[role=tab]:has-text('Voice Lab')")
    page.set_input_files("#lab-files input[type=file]", [str(p) for p in clips])
    page.fill("#lab-name textarea", f"browser-test-{tmp_path.name[-6:]}")
    page.fill("#lab-consent textarea", "LJ Speech reader (public domain)")
    page.click("#lab-prepare")
    page.wait_for_function(
        "() => Number(document.querySelector('#lab-labels [role=grid]')?.getAttribute('aria-rowcount')) >= 5",
        timeout=180_000)
    table = page.inner_text("#lab-labels").lower()
    assert "printing" in table and "ok" in table  # Whisper's labels, ready to be corrected
    page.screenshot(path=str(tmp_path / "lab.png"), full_page=True)
    page.close()
