"""Talk tab: speak or type, the digital human answers in a voice with a lip-synced face."""
from __future__ import annotations

from ... import registry
from ...config import stage_choice
from ...errors import UserInputError
from .common import UPLOAD, AppContext, portraits, user_error

def talk_tab(ctx: AppContext) -> None:
    """Speak or type; the digital human answers with a cloned voice and a lip-synced portrait."""
    import gradio as gr

    from voices.profiles import list_voices

    from ...audio import save_audio
    from ...flows.conversation import ConversationFlow
    from ...llm.conversation import Conversation
    from ...llm.persona import load_persona

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
                    upload = gr.File(file_types=["image", "video"], type="filepath",
                                     label="Your portrait, or a 5-30 s video of you facing the camera")
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
                raise user_error(exc) from exc

        voice.focus(lambda: gr.update(choices=[v.name for v in list_voices()]), None, voice)  # new clones
        send.click(run, [mic, typed, asr_name, llm_name, tts_name, lips_name, voice, face, upload, chat, state],
                   [heard, chat, audio_out, video, timings, state], api_name="talk")
        reset.click(lambda: ([], None, ""), None, [chat, state, heard])
