"""Listen tab: speech to text with either Whisper engine."""
from __future__ import annotations

from pathlib import Path

from ... import registry
from ...config import stage_choice
from .common import LANGUAGES, AppContext, user_error

def listen_tab(ctx: AppContext) -> None:
    """Speech to text with either Whisper engine; downloads as SRT."""
    import gradio as gr

    from ...formats import render

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
                raise user_error(exc, "listen") from None
            srt = ctx.session_dir() / f"{Path(path).stem}.srt"
            srt.write_text(render(transcript, "srt"), encoding="utf-8")
            return transcript.text, transcript.language, str(srt), transcript.to_dict()

        button.click(run, [audio, engine, language], [text, detected, subtitles, details], api_name="transcribe")
