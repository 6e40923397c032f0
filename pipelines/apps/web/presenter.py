"""Presenter tab: a Markdown script becomes a captioned newscaster video (title card, lower third, slides)."""
from __future__ import annotations

import shutil
from pathlib import Path

from ... import registry
from ...config import stage_choice
from ...errors import UserInputError
from .common import UPLOAD, AppContext, portraits, user_error

EXAMPLE = """---
name: Ada Lovelace
role: Evening news
---
# Tonight's headlines

Good evening. Here is the news from the lab.

Our digital presenter now blinks, breathes and speaks with your voice.
"""


def presenter_tab(ctx: AppContext) -> None:
    """Script in, presenter video out; slide images are uploaded and named in the script as ![](name.png)."""
    import gradio as gr

    from voices.profiles import list_voices

    from ...flows.presenter import parse_script, present

    faces = portraits()
    voices = [v.name for v in list_voices()]
    with gr.Tab("Presenter"):
        with gr.Row():
            with gr.Column(scale=1):
                script = gr.Textbox(EXAMPLE, lines=14, label="Script (Markdown)", elem_id="presenter-script")
                slides = gr.File(file_count="multiple", file_types=["image"], label="Slide / background images")
                face = gr.Dropdown(list(faces) + [UPLOAD], value=next(iter(faces), UPLOAD), label="Presenter")
                upload = gr.File(file_types=["image", "video"], label="Your portrait or a 5-30 s video of you")
                voice = gr.Dropdown(voices, value=voices[0] if voices else None, label="Voice")
                lips_name = gr.Dropdown(registry.names("lipsync"),
                                        value=stage_choice(ctx.config, "lipsync").engine, label="Face engine")
                go = gr.Button("Make the video", variant="primary", elem_id="presenter-go")
            with gr.Column(scale=2):
                video = gr.Video(label="Presentation", elem_id="presenter-video", height=420)

        def run(text, slide_files, face_n, face_upload, voice_n, lips_n, progress=gr.Progress()):
            try:
                if not (text or "").strip():
                    raise UserInputError("write a script first")
                work = ctx.session_dir()
                for f in slide_files or []:
                    path = Path(getattr(f, "name", f))
                    shutil.copy(path, work / path.name)
                (work / "script.md").write_text(text, encoding="utf-8")
                portrait = Path(getattr(face_upload, "name", face_upload)) if face_n == UPLOAD and face_upload \
                    else faces.get(face_n)
                if portrait is None:
                    raise UserInputError("upload a portrait or a short video, or pick a built-in presenter")
                tts = ctx.stage("tts", None, **({"voice": voice_n} if voice_n else {}))
                result = present(parse_script(work / "script.md"), tts, ctx.stage("lipsync", lips_n), portrait,
                                 work / "presentation.mp4", progress=lambda f, m="": progress(f, desc=m))
            except Exception as exc:
                raise user_error(exc) from exc
            return str(result.video.path)

        go.click(run, [script, slides, face, upload, voice, lips_name], [video], api_name="present")
