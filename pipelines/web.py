"""The Gradio demo. Tabs are plain functions in TABS, so adding one is one function and one line.

Stages come from the registry's shared cache: models load once and serve every tab and session;
Gradio's queue serialises the heavy calls.
"""
from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import registry
from .config import stage_choice
from .errors import DigitalHumanError, UserInputError
from .formats import render

MAX_UPLOAD = "200mb"
LANGUAGES = {"auto-detect": None, "English": "en", "中文 (Mandarin)": "zh"}


@dataclass
class AppContext:
    config: dict
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dh-web-")))

    def stage(self, kind: str, engine: str | None = None):
        choice = stage_choice(self.config, kind)
        name = engine or choice.engine
        options = choice.options if name == choice.engine else dict(self.config.get(kind, {}).get(name, {}))
        return registry.build(kind, name, **options)


def _user_error(exc: BaseException):
    import gradio as gr

    if isinstance(exc, UserInputError) and exc.path:
        return gr.Error(f"{Path(exc.path).name}: {exc.message}")  # not the server's temp path
    if isinstance(exc, DigitalHumanError):
        return gr.Error(str(exc))
    return gr.Error(f"unexpected {type(exc).__name__}: {exc}")


def listen_tab(ctx: AppContext) -> None:
    """Speech to text with either Whisper engine; downloads as SRT."""
    import gradio as gr

    with gr.Tab("Listen (ASR)"):
        with gr.Row():
            with gr.Column():
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="Speech or video audio")
                engine = gr.Dropdown(registry.names("asr"), value=stage_choice(ctx.config, "asr").engine,
                                     label="ASR engine")
                language = gr.Dropdown(list(LANGUAGES), value="auto-detect", label="Language")
                button = gr.Button("Transcribe", variant="primary")
            with gr.Column():
                text = gr.Textbox(label="Transcript", lines=6, elem_id="transcript")
                detected = gr.Textbox(label="Detected language", elem_id="language")
                subtitles = gr.File(label="Subtitles (SRT)")
                details = gr.JSON(label="Segments and word timings")

        def run(path, engine_name, language_name, progress=gr.Progress()):
            if not path:
                raise gr.Error("Record or upload some audio first.")
            try:
                asr = ctx.stage("asr", engine_name)
                transcript = asr.transcribe(path, language=LANGUAGES[language_name],
                                            progress=lambda f, m="": progress(f, desc=m))
            except Exception as exc:
                raise _user_error(exc) from exc
            srt = Path(tempfile.mkdtemp(dir=ctx.workdir)) / f"{Path(path).stem}.srt"
            srt.write_text(render(transcript, "srt"), encoding="utf-8")
            return transcript.text, transcript.language, str(srt), transcript.to_dict()

        button.click(run, [audio, engine, language], [text, detected, subtitles, details])


TABS = [listen_tab]


def build_app(config: dict):
    import gradio as gr

    ctx = AppContext(copy.deepcopy(config))
    with gr.Blocks(title="digital-human") as app:
        gr.Markdown("# digital-human\nA voice-clone digital human that runs offline.")
        for tab in TABS:
            tab(ctx)
    app.dh_context = ctx
    return app


def launch(config: dict, *, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           auth: str | None = None, block: bool = True):
    credentials = None
    if auth:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            raise DigitalHumanError("--auth must look like user:password")
        credentials = (user, password)
    app = build_app(config)
    app.queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, share=share, auth=credentials, max_file_size=MAX_UPLOAD,
        prevent_thread_lock=not block, show_error=True)
    return app
