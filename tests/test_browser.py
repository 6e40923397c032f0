"""The demo as a person uses it: a real headless Chromium (Debian's) driven by Playwright."""
import shutil
import socket

import pytest

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    import os

    from pipelines.config import load_config
    from pipelines.apps.web import launch

    old = os.environ.get("DH_VOICES_DIR")
    os.environ["DH_VOICES_DIR"] = str(tmp_path_factory.mktemp("voices"))  # the lab writes here, not in $HOME
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = launch(load_config(None, ["tts.engine=vits-onnx"]), port=port, block=False, warm=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()
    if old is None:
        os.environ.pop("DH_VOICES_DIR", None)
    else:
        os.environ["DH_VOICES_DIR"] = old


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.fail("Debian's chromium is not installed (make setup installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _wait_for_video(page, timeout_ms=240_000):
    page.wait_for_function(
        "() => { const v = document.querySelector('#talk-video video'); return v && v.src && v.src.length > 0 }",
        timeout=timeout_ms)
    return page.eval_on_selector("#talk-video video", "v => v.src")


def test_upload_a_question_and_get_a_talking_reply(browser, app_url, shared, tmp_path):
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.goto(app_url)
    page.click("#talk-audio button[aria-label='Upload file']")
    page.set_input_files("#talk-audio input[type=file]", str(shared / "asr/en/jfk.flac"))
    page.wait_for_selector("#talk-audio audio, #talk-audio [data-testid='waveform-Speak (or upload)'] wave, "
                           "#talk-audio .waveform-container", timeout=30_000, state="attached")
    page.click("#talk-send")
    src = _wait_for_video(page)
    assert src.endswith(".mp4") or "mp4" in src
    page.wait_for_function("() => document.querySelector('#talk-timings').innerText.includes('video')",
                           timeout=240_000)
    heard = page.input_value("#talk-heard textarea")
    assert "ask not what your country" in heard.lower()
    chat = page.inner_text("#talk-chat")
    assert "ask not" in chat.lower() and len(chat.strip()) > len(heard)  # the reply is in the chat too
    shot = tmp_path / "talk.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
    page.close()


def test_a_bad_upload_shows_a_clear_message(browser, app_url, shared):
    page = browser.new_page()
    page.goto(app_url)
    page.fill("#talk-text textarea", "")
    page.click("#talk-send")
    page.wait_for_selector("text=record, upload or type something first", timeout=30_000)
    page.close()


def test_four_sessions_at_once(browser, app_url):
    pages = [browser.new_context().new_page() for _ in range(4)]
    for i, page in enumerate(pages):
        page.goto(app_url)
        page.fill("#talk-text textarea", f"Hello, I am visitor number {i + 1}. How are you?")
    for page in pages:  # all four requests in flight together
        page.click("#talk-send")
    sources = [_wait_for_video(page, 300_000) for page in pages]
    assert len(set(sources)) == 4  # each session got its own reply video
    for i, page in enumerate(pages):
        assert f"visitor number {i + 1}" in page.inner_text("#talk-chat")
        page.context.close()


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
