"""The Gradio demo. Tabs are plain functions in TABS, so adding one is one function and one line.

Stages come from the registry's shared cache: models load once and serve every tab and session (each
engine serialises its own model calls); each browser session keeps its own conversation memory.
Only the app's temp folder and the voices folder are ever served; the browser never names a path.
"""
from __future__ import annotations

import copy
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from . import registry
from .config import stage_choice
from .errors import DigitalHumanError, UserInputError

MAX_UPLOAD = "200mb"
LANGUAGES = {"auto-detect": None, "English": "en", "中文 (Mandarin)": "zh"}
PORTRAITS_DIR = Path(__file__).resolve().parents[1] / "avatar" / "portraits"
UPLOAD = "(upload your own)"


@dataclass
class AppContext:
    config: dict
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dh-web-")))

    def stage(self, kind: str, engine: str | None = None, **extra):
        choice = stage_choice(self.config, kind)
        name = engine or choice.engine
        options = dict(choice.options if name == choice.engine else self.config.get(kind, {}).get(name, {}))
        options.update(extra)
        return registry.build(kind, name, **options)

    def session_dir(self) -> Path:
        return Path(tempfile.mkdtemp(dir=self.workdir))


def portraits() -> dict[str, Path]:
    return {p.stem.replace("_", " ").title(): p for p in sorted(PORTRAITS_DIR.glob("*.jpg"))}


def _user_error(exc: BaseException):
    import gradio as gr

    if isinstance(exc, UserInputError) and exc.path:
        return gr.Error(f"{Path(exc.path).name}: {exc.message}")  # not the server's temp path
    if isinstance(exc, DigitalHumanError):
        return gr.Error(str(exc))
    return gr.Error(f"unexpected {type(exc).__name__}: {exc}")


def talk_tab(ctx: AppContext) -> None:
    """Speak or type; the digital human answers with a cloned voice and a lip-synced portrait."""
    import gradio as gr

    from voices.profiles import list_voices

    from .audio import save_audio
    from .flows import ConversationFlow
    from .llm.conversation import Conversation
    from .llm.persona import load_persona

    faces = portraits()
    voices = [v.name for v in list_voices()]
    with gr.Tab("Talk"):
        with gr.Row():
            with gr.Column(scale=1):
                mic = gr.Audio(sources=["microphone", "upload"], type="filepath", label="Speak (or upload)",
                               elem_id="talk-audio")
                typed = gr.Textbox(label="…or type", placeholder="Ask me anything", elem_id="talk-text")
                send = gr.Button("Send", variant="primary", elem_id="talk-send")
                with gr.Accordion("Stages, voice and face", open=False):
                    asr_name = gr.Dropdown(registry.names("asr"), value=stage_choice(ctx.config, "asr").engine,
                                           label="Listen (ASR)")
                    llm_name = gr.Dropdown(registry.names("llm"), value=stage_choice(ctx.config, "llm").engine,
                                           label="Think (LLM)")
                    tts_name = gr.Dropdown(registry.names("tts"), value=stage_choice(ctx.config, "tts").engine,
                                           label="Speak (TTS)")
                    lips_name = gr.Dropdown(registry.names("lipsync"),
                                            value=stage_choice(ctx.config, "lipsync").engine, label="Face")
                    voice = gr.Dropdown(voices, value=voices[0] if voices else None, label="Voice")
                    face = gr.Dropdown(list(faces) + [UPLOAD], value=next(iter(faces), UPLOAD), label="Portrait")
                    upload = gr.Image(type="filepath", label="Your portrait", sources=["upload"])
                    reset = gr.Button("Forget the conversation")
            with gr.Column(scale=2):
                video = gr.Video(label="Reply", autoplay=True, elem_id="talk-video", height=420)
                audio_out = gr.Audio(label="Reply audio", autoplay=False, elem_id="talk-reply-audio")
                chat = gr.Chatbot(label="Conversation", elem_id="talk-chat")
                heard = gr.Textbox(label="You said", elem_id="talk-heard")
                timings = gr.Markdown(elem_id="talk-timings")
        state = gr.State(None)

        def run(audio_path, text, asr_n, llm_n, tts_n, lips_n, voice_n, face_n, face_upload, history, memory):
            history = list(history or [])
            try:
                if not (audio_path or (text or "").strip()):
                    raise UserInputError("record, upload or type something first")
                portrait = face_upload if face_n == UPLOAD else faces.get(face_n)
                if face_n == UPLOAD and not face_upload:
                    raise UserInputError("upload a portrait, or pick a built-in one")
                llm = ctx.stage("llm", llm_n)
                if memory is None or memory.llm is not llm:
                    memory = Conversation(llm, load_persona(ctx.config.get("app", {}).get("persona")))
                workdir = ctx.session_dir()
                flow = ConversationFlow(ctx.stage("asr", asr_n), memory, ctx.stage("tts", tts_n, voice=voice_n),
                                        ctx.stage("lipsync", lips_n), portrait, workdir)
                said = (text or "").strip() or None
                user_turn = {"role": "user", "content": said or "🎤 …"}
                history.append(user_turn)
                reply_turn = {"role": "assistant", "content": ""}
                history.append(reply_turn)
                marks = {}
                for event in flow.turn(audio=None if said else audio_path, text=said):
                    marks.setdefault(event.kind, event.at)
                    if event.kind == "transcript":
                        user_turn["content"] = event.value.text
                        yield {heard: event.value.text, chat: history}
                    elif event.kind == "text":
                        reply_turn["content"] = event.value
                        yield {chat: history}
                    elif event.kind == "sentence" and "first_audio" not in marks:
                        marks["first_audio"] = event.at
                        path = save_audio(workdir / "first.wav", event.value.audio)
                        yield {audio_out: str(path)}
                    elif event.kind == "first_video":
                        yield {video: str(event.value.path)}
                    elif event.kind == "audio":
                        yield {audio_out: str(save_audio(workdir / "reply.wav", event.value.audio))}
                    elif event.kind == "video":
                        yield {video: str(event.value.path)}
                    elif event.kind == "done":
                        reply_turn["content"] = event.value.reply
                        line = " · ".join(f"{k.replace('_', ' ')} {v:.2f} s" for k, v in marks.items()
                                          if k in ("transcript", "first_audio", "first_video", "video"))
                        yield {chat: history, timings: f"**Latency** — {line}", state: memory}
            except Exception as exc:
                raise _user_error(exc) from exc

        voice.focus(lambda: gr.update(choices=[v.name for v in list_voices()]), None, voice)  # new clones
        send.click(run, [mic, typed, asr_name, llm_name, tts_name, lips_name, voice, face, upload, chat, state],
                   [heard, chat, audio_out, video, timings, state], api_name="talk")
        reset.click(lambda: ([], None, ""), None, [chat, state, heard])


def listen_tab(ctx: AppContext) -> None:
    """Speech to text with either Whisper engine; downloads as SRT."""
    import gradio as gr

    from .formats import render

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
            srt = ctx.session_dir() / f"{Path(path).stem}.srt"
            srt.write_text(render(transcript, "srt"), encoding="utf-8")
            return transcript.text, transcript.language, str(srt), transcript.to_dict()

        button.click(run, [audio, engine, language], [text, detected, subtitles, details], api_name="transcribe")


def voice_lab_tab(ctx: AppContext) -> None:
    """Clone a voice: upload clips or a long recording, review the labels, train (or resume), compare."""
    import shutil

    import gradio as gr

    from voices.dataset import Clip, read_metadata, write_metadata
    from voices.finetune import PRESETS, CloneOptions, clone_voice
    from voices.profiles import user_voices_dir

    with gr.Tab("Voice Lab"):
        gr.Markdown("Give about 20 clips of 2–10 s (or one long recording) of **one** person who agreed to "
                    "be cloned. Review the transcripts, then train. `quick` takes about 20 minutes on a laptop CPU.")
        with gr.Row():
            with gr.Column():
                files = gr.File(file_count="multiple", label="Clips or one long recording (audio or video)",
                                elem_id="lab-files")
                name = gr.Textbox(label="Voice name", placeholder="e.g. grandma", elem_id="lab-name")
                consent = gr.Textbox(label="Consent: who agreed, when and how", elem_id="lab-consent")
                prepare = gr.Button("1. Prepare and label the clips", elem_id="lab-prepare")
            with gr.Column():
                labels = gr.Dataframe(headers=["file", "text", "duration", "status", "reason"],
                                      label="Labels (edit the text; set status to 'rejected' to leave a clip out)",
                                      interactive=True, wrap=True, elem_id="lab-labels")
                save = gr.Button("Save my corrections")
        with gr.Row():
            preset = gr.Dropdown(list(PRESETS), value="quick", label="Preset")
            steps = gr.Number(value=0, label="Steps (0: the preset's)", precision=0)
            resume = gr.Checkbox(label="Resume an interrupted training")
            train = gr.Button("2. Train", variant="primary", elem_id="lab-train")
        with gr.Row():
            base_sample = gr.Audio(label="Base voice", elem_id="lab-base")
            clone_sample = gr.Audio(label="Your clone", elem_id="lab-clone")
        report = gr.Markdown(elem_id="lab-report")

        def dataset_dir(voice: str) -> Path:
            voice = (voice or "").strip()
            if not voice or any(ch in voice for ch in "/\\:") or voice.startswith("."):
                raise UserInputError("give the voice a simple name (letters, digits, - or _)")
            return user_voices_dir() / voice / "dataset"

        def gather(uploads) -> Path:
            if not uploads:
                raise UserInputError("upload some clips (or one long recording) first")
            folder = ctx.session_dir() / "uploads"
            folder.mkdir()
            for i, f in enumerate(uploads):  # our own names: nothing from the browser names a path here
                src = Path(f if isinstance(f, str) else f.name)
                shutil.copy(src, folder / f"{i:03d}{src.suffix.lower()}")
            return folder if len(uploads) > 1 else next(folder.iterdir())

        def on_prepare(uploads, voice, progress=gr.Progress()):
            from voices.dataset import prepare_dataset

            try:
                clips = prepare_dataset(gather(uploads), dataset_dir(voice), ctx.stage("asr"),
                                        progress=lambda f, m="": progress(f, desc=m))
            except Exception as exc:
                raise _user_error(exc) from exc
            return [[c.file, c.text, c.duration, c.status, c.reason] for c in clips]

        def on_save(table, voice):
            try:
                meta = dataset_dir(voice) / "metadata.tsv"
                old = {c.file: c for c in read_metadata(meta)}
                rows = table.values.tolist() if hasattr(table, "values") else table
                clips = [Clip(str(r[0]), str(r[1]), float(r[2] or 0), str(r[3] or "ok"), str(r[4] or ""),
                              old.get(str(r[0]), Clip("")).source) for r in rows if str(r[0]) in old]
                write_metadata(meta, clips)
            except Exception as exc:
                raise _user_error(exc) from exc
            gr.Info("Labels saved.")

        def on_train(uploads, voice, who, preset_name, n_steps, again, progress=gr.Progress()):
            try:
                data = dataset_dir(voice).parent / "dataset"
                source = data if (data / "metadata.tsv").is_file() else gather(uploads)
                options = CloneOptions(name=voice.strip(), consent=who or "", preset=preset_name,
                                       steps=int(n_steps) if n_steps else None, resume=bool(again))
                profile = clone_voice(source, options, asr=ctx.stage("asr"),
                                      progress=lambda f, m="": progress(f, desc=m))
            except Exception as exc:
                raise _user_error(exc) from exc
            q = profile.quality
            text = (f"### {profile.name}: {q['verdict']}\n\n| | similarity to the person | round-trip WER |\n"
                    f"|---|---|---|\n| base | {q['base_similarity']:.3f} | {q['base_wer']:.1%} |\n"
                    f"| clone | {q['clone_similarity']:.3f} | {q['clone_wer']:.1%} |\n\n"
                    f"Training: {profile.training.get('minutes', 0)} min, {profile.training.get('steps')} steps.")
            samples = profile.folder / "samples"
            return str(samples / "base_1.wav"), str(samples / "clone_1.wav"), text

        prepare.click(on_prepare, [files, name], labels)
        save.click(on_save, [labels, name], None)
        train.click(on_train, [files, name, consent, preset, steps, resume], [base_sample, clone_sample, report])


TABS = [talk_tab, voice_lab_tab, listen_tab]


def build_app(config: dict):
    import gradio as gr

    ctx = AppContext(copy.deepcopy(config))
    with gr.Blocks(title="digital-human") as app:
        gr.Markdown("# digital-human\nA voice-clone digital human that runs offline.")
        for tab in TABS:
            tab(ctx)
    app.dh_context = ctx
    return app


def warm_up(ctx: AppContext) -> None:
    """Load the default models in the background, so the first visitor does not wait for them."""
    def load():
        for kind, attr in (("asr", "model"), ("llm", "llm"), ("tts", "model")):
            try:
                getattr(ctx.stage(kind), attr, None)
            except Exception:  # the request that needs it will report the problem properly
                pass
    threading.Thread(target=load, name="warm-up", daemon=True).start()


def launch(config: dict, *, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           auth: str | None = None, block: bool = True, warm: bool = True):
    credentials = None
    if auth:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            raise DigitalHumanError("--auth must look like user:password")
        credentials = (user, password)
    app = build_app(config)
    if warm:
        warm_up(app.dh_context)
    from voices.profiles import user_voices_dir

    app.queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, share=share, auth=credentials, max_file_size=MAX_UPLOAD,
        prevent_thread_lock=not block, show_error=True,
        allowed_paths=[str(app.dh_context.workdir), str(user_voices_dir()), str(PORTRAITS_DIR)])
    return app
