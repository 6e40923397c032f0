"""Podcast tab: upload long audio, follow the progress, read the chaptered summary (chapter times and
quotes seek the player), hear it read back in a voice, download every output."""
from __future__ import annotations

import html
import re
import shutil
from pathlib import Path

from ...config import stage_choice
from .common import LANGUAGES, AppContext, user_error

NO_VOICE = "(no read-back)"
PLAYER = "podcast-player"


def _seek(seconds: float, label: str) -> str:
    return (f'<a href="#" class="podcast-seek" data-t="{seconds:.2f}" onclick="const p=document.getElementById('
            f"'{PLAYER}'); if (p) {{ p.currentTime={seconds:.2f}; p.play(); }} return false;\">{html.escape(label)}</a>")


def summary_html(result, audio_url: str) -> str:
    """The summary as HTML, with an audio player and chapter/quote times that seek it."""
    from ...flows.podcast_summary import clock

    s = result.summary
    e = html.escape
    parts = [f"<h2>{e(s.title)}</h2>",
             f'<audio id="{PLAYER}" controls preload="metadata" src="{e(audio_url)}" style="width:100%"></audio>',
             f"<p><em>{e(Path(result.source).name)} · {clock(result.duration)} · speakers: "
             f"{e(', '.join(result.speakers))}</em></p>", f"<p>{e(s.abstract)}</p>"]
    if s.lines_read < s.lines_total:
        parts.append(f"<p><em>Summarized from {s.lines_read} of {s.lines_total} transcript lines (the central lines "
                     f"of every few minutes); times and quotes are checked against all of them.</em></p>")
    parts.append("<h3>Chapters</h3><ol>")
    for c in s.chapters:
        points = "".join(f"<li>{e(p)}</li>" for p in c["points"])
        parts.append(f"<li>{_seek(c['start'], '[' + clock(c['start']) + ']')} <strong>{e(c['title'])}</strong>"
                     f"<ul>{points}</ul></li>")
    parts.append("</ol>")
    if s.key_points:
        parts.append("<h3>Key points</h3><ul>" + "".join(f"<li>{e(p)}</li>" for p in s.key_points) + "</ul>")
    if s.quotes:
        parts.append("<h3>Quotes</h3>")
        for q in s.quotes:
            parts.append(f"<blockquote>“{e(q['text'])}” — {e(q['speaker'])} "
                         f"{_seek(q['start'], '[' + clock(q['start']) + ']')}</blockquote>")
    return "\n".join(parts)


def podcast_tab(ctx: AppContext) -> None:
    """Long audio -> chaptered summary with verbatim timed quotes, optionally read back in a voice."""
    import gradio as gr

    from voices.profiles import list_voices

    from ...asr.voice_activity import default_voice_activity
    from ...flows.podcast import SKIM_TOKENS, PodcastFlow
    from ..podcast_cmd import FASTER_WHISPER_FOR_PODCASTS, LLAMA_CPP_FOR_SUMMARIES

    with gr.Tab("Podcast"):
        gr.Markdown("Upload a podcast, meeting or talk (hours are fine). You get chapters with times, key points "
                    "and quotes copied word for word from the transcript, with speakers S1, S2…")
        with gr.Row():
            with gr.Column(scale=1):
                upload = gr.File(label="Audio or video", file_types=["audio", "video"], elem_id="podcast-file")
                language = gr.Dropdown(list(LANGUAGES), value="auto-detect", label="Language")
                voice = gr.Dropdown([NO_VOICE] + [v.name for v in list_voices()], value=NO_VOICE,
                                    label="Read the summary aloud in")
                read_all = gr.Checkbox(False, label="Read every line (slower; otherwise talks over ~20 min are skimmed)",
                                       elem_id="podcast-read-all")
                button = gr.Button("Summarize", variant="primary", elem_id="podcast-run")
                spoken = gr.Audio(label="Summary read back", elem_id="podcast-spoken")
                files = gr.File(label="Downloads (Markdown, JSON, SRT, VTT, chapters, M4A)", file_count="multiple",
                                elem_id="podcast-downloads")
            with gr.Column(scale=2):
                report = gr.HTML(elem_id="podcast-summary")

        def run(upload_file, language_name, voice_name, read_every_line=False, progress=gr.Progress()):
            if not upload_file:
                raise gr.Error("Upload an audio or video file first.")
            src = Path(upload_file if isinstance(upload_file, str) else upload_file.name)
            session = ctx.session_dir()
            safe = re.sub(r"[^\w.-]+", "_", src.name).lstrip(".") or "podcast"
            local = session / safe  # the upload's own name (for messages), inside our session folder
            shutil.copy(src, local)
            try:
                extra = LLAMA_CPP_FOR_SUMMARIES if stage_choice(ctx.config, "llm").engine == "llama-cpp" else {}
                options = {k: v for k, v in extra.items()
                           if k not in stage_choice(ctx.config, "llm").options}
                llm = ctx.stage("llm", **options)
                tts = None
                if voice_name and voice_name != NO_VOICE:
                    tts = ctx.stage("tts", voice=voice_name)
                asr_choice = stage_choice(ctx.config, "asr")
                asr_extra = {k: v for k, v in FASTER_WHISPER_FOR_PODCASTS.items() if k not in asr_choice.options}
                asr = ctx.stage("asr", **(asr_extra if asr_choice.engine == "faster-whisper" else {}))
                flow = PodcastFlow(asr, llm, tts=tts, voice_activity=default_voice_activity(),
                                   read_tokens=None if read_every_line else SKIM_TOKENS)
                result = flow.run(local, session / "out", language=LANGUAGES.get(language_name),
                                  progress=lambda f, m="": progress(f, desc=m))
            except Exception as exc:
                raise user_error(exc) from exc
            url = f"/gradio_api/file={local}"
            outputs = [str(p) for k, p in result.outputs.items() if k != "speech"]
            speech = str(result.outputs["speech"]) if "speech" in result.outputs else None
            return summary_html(result, url), speech, outputs

        button.click(run, [upload, language, voice, read_all], [report, spoken, files], api_name="podcast")
