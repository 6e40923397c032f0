"""Talk tab: speak or type, the digital human answers in a voice with a lip-synced face.

As a visitor sees it: the question shows in the chat at once, one status line says what is happening
(waiting in line, listening, thinking, speaking, rendering), Send is disabled until the turn is over, inputs
are cleared after Send, and a mistake is one message in the status line while the conversation stays.
"""
from __future__ import annotations

import time

from ... import registry
from ...config import stage_choice
from ...errors import UserInputError
from ...llm.bundled import NAMES as BUNDLED_LLMS
from .common import UPLOAD, AppContext, log_failure, portraits
from .persona_panel import as_persona, conversation_for, describe, persona_panel, start_choice

POLL_S = 0.5  # how often a waiting visitor's place in line is refreshed


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


STATUS = {"ok": "Done", "ready": "Ready", "error": "Error", "wait": "Waiting", "listen": "Listening",
          "think": "Thinking", "speak": "Speaking", "render": "Rendering", "info": ""}


def status_line(kind: str, text: str) -> str:
    """The one status line under Send: a coloured word for the state, then the detail."""
    word = STATUS[kind]
    return f'<span class="dh-status dh-{kind}">{word}</span> {text}' if word else text


def voice_label(profile) -> str:
    """'joe — US English male voice': the name and the first clause of its description."""
    short = profile.description.split(";")[0].split(",")[0].strip()
    return f"{profile.name} — {short}" if short else profile.name


def talk_tab(ctx: AppContext) -> None:
    """Speak or type; the digital human answers with a cloned voice and a lip-synced portrait."""
    import gradio as gr

    from voices.profiles import list_voices

    from ...audio import load_audio, require_sound, save_audio
    from ...flows.conversation import ConversationFlow

    faces = portraits()
    profiles = {v.name: v for v in list_voices()}
    first_face = next(iter(faces), UPLOAD)

    start = start_choice(ctx)

    def persona_of(chosen):
        return as_persona(chosen or start)

    def hint_text(chosen, voice_n, face_n) -> str:
        v = profiles.get(voice_n)
        speaks = f"**{voice_label(v)}**" if v else f"**{voice_n}**"
        who = "your portrait" if face_n == UPLOAD else face_n
        return (f"{persona_of(chosen).name} answers here with the face of **{who}**, in the voice {speaks}. "
                "Type a question (or record or upload one), then press **Send**.")

    with gr.Tab("Talk"):
        header = gr.Markdown(describe(start), elem_id="talk-persona")
        with gr.Row():
            with gr.Column(scale=1):
                mic = gr.Audio(sources=["microphone", "upload"], type="filepath", label="Speak (or upload)",
                               elem_id="talk-audio")
                typed = gr.Textbox(label="…or type", placeholder="Ask me anything, then press Enter or Send",
                                   elem_id="talk-text")
                send = gr.Button("Send", variant="primary", elem_id="talk-send")
                status = gr.Markdown(status_line("info", "Ready."), elem_id="talk-status")
                persona_state, _ = persona_panel(ctx)
                with gr.Accordion("Stages, voice and face", open=False):
                    asr_name = gr.Dropdown(registry.names("asr"), value=stage_choice(ctx.config, "asr").engine,
                                           label="Listen (ASR)")
                    llm_name = gr.Dropdown(registry.names("llm"), value=stage_choice(ctx.config, "llm").engine,
                                           label="Think (LLM)")
                    llm_model = gr.Dropdown(list(BUNDLED_LLMS), label="Model (llama-cpp)", allow_custom_value=True,
                                            value=ctx.config.get("llm", {}).get("llama-cpp", {}).get("model",
                                                                                                   BUNDLED_LLMS[0]))
                    tts_name = gr.Dropdown(registry.names("tts"), value=stage_choice(ctx.config, "tts").engine,
                                           label="Speak (TTS)")
                    lips_name = gr.Dropdown(registry.names("lipsync"),
                                            value=stage_choice(ctx.config, "lipsync").engine, label="Face")
                    voice = gr.Dropdown([(voice_label(v), n) for n, v in profiles.items()],
                                        value=next(iter(profiles), None), label="Voice", elem_id="talk-voice",
                                        info="clone a voice that fits your portrait in the Voice Lab")
                    face = gr.Dropdown(list(faces) + [UPLOAD], value=first_face, label="Portrait",
                                       elem_id="talk-face")
                    upload = gr.File(file_types=["image", "video"], type="filepath", elem_id="talk-upload",
                                     label="Your portrait, or a 5-30 s video of you facing the camera (selects it)")
                    reset = gr.Button("Forget the conversation")
            with gr.Column(scale=2):
                hint = gr.Markdown(hint_text(None, next(iter(profiles), ""), first_face), elem_id="talk-hint")
                still = gr.Image(value=str(faces[first_face]) if first_face in faces else None, label="Reply",
                                 interactive=False, elem_id="talk-still", height=420, buttons=[])
                video = gr.Video(label="Reply", autoplay=True, elem_id="talk-video", height=420, visible=False)
                audio_out = gr.Audio(label="Reply audio", autoplay=False, elem_id="talk-reply-audio")
                chat = gr.Chatbot(label="Conversation", elem_id="talk-chat")
                heard = gr.Textbox(label="You said", elem_id="talk-heard", interactive=False)
                timings = gr.Markdown(elem_id="talk-timings")
        memory_state = gr.State(None)

        def portrait_of(face_n, face_upload):
            return face_upload if face_n == UPLOAD else faces.get(face_n)

        def run(audio_path, text, asr_n, llm_n, llm_m, tts_n, lips_n, voice_n, face_n, face_upload, chosen,
                history, memory):
            pressed = time.monotonic()
            before = list(history or [])
            said = (text or "").strip() or None
            portrait = portrait_of(face_n, face_upload)
            mistake = ("record, upload or type something first" if not (said or audio_path) else
                       "upload a portrait, or pick a built-in one" if portrait is None else None)
            if mistake:
                yield {status: status_line("error", log_failure("talk", UserInputError(mistake)))}
                return
            history = before + [{"role": "user", "content": said or "(your recording)"}]
            ticket, remembered = ctx.line.join(), None
            working = status_line("think" if said else "listen", "…")
            try:  # from here on the ticket is given back whatever happens (an error, a closed page)
                ahead = ticket.ahead()
                yield {chat: history, heard: said or "…", typed: "", mic: None, send: gr.update(interactive=False),
                       timings: "", status: waiting(ahead) if ahead else working}
                while not ticket.wait(POLL_S):
                    now = ticket.ahead()
                    if now != ahead:
                        ahead = now
                        yield {status: waiting(ahead)}
                started = time.monotonic()
                yield {status: working}
                llm = ctx.stage("llm", llm_n, **({"model": llm_m} if llm_n == "llama-cpp" and llm_m else {}))
                who = chosen or start
                if memory is None or memory.llm is not llm or getattr(memory, "dh_key", None) != who:
                    memory = conversation_for(llm, who)
                    memory.dh_key = who
                remembered = (list(memory.history), memory.summary)
                workdir = ctx.session_dir()
                flow = ConversationFlow(ctx.stage("asr", asr_n), memory, ctx.stage("tts", tts_n, voice=voice_n),
                                        ctx.stage("lipsync", lips_n), portrait, workdir)
                user_turn, reply_turn = history[-1], {"role": "assistant", "content": ""}
                marks = {}
                for event in flow.turn(audio=None if said else audio_path, text=said):
                    marks.setdefault(event.kind, event.at)
                    if event.kind == "transcript":
                        user_turn["content"] = event.value.text
                        yield {heard: event.value.text, chat: history, status: status_line("think", "…")}
                    elif event.kind == "text":
                        reply_turn["content"] = event.value
                        if len(history) == len(before) + 1:
                            history.append(reply_turn)
                        yield {chat: history}
                    elif event.kind == "sentence" and "first_audio" not in marks:
                        marks["first_audio"] = event.at
                        path = save_audio(workdir / "first.wav", event.value.audio)
                        yield {audio_out: str(path),
                               status: status_line("speak", "— the video follows")}
                    elif event.kind == "first_video":
                        yield {video: gr.update(value=str(event.value.path), visible=True),
                               still: gr.update(visible=False)}
                    elif event.kind == "audio":
                        yield {audio_out: str(save_audio(workdir / "reply.wav", event.value.audio)),
                               status: status_line("render", "the whole reply as video…")}
                    elif event.kind == "video":
                        yield {video: gr.update(value=str(event.value.path), visible=True),
                               still: gr.update(visible=False)}
                    elif event.kind == "done":
                        reply_turn["content"] = event.value.reply
                        yield {chat: history, memory_state: memory, send: gr.update(interactive=True),
                               timings: latency(marks, started - pressed),
                               status: status_line(
                                   "ok", f"in {time.monotonic() - pressed:.1f} s. Ask the next question.")}
            except Exception as exc:  # one message; the conversation stays as it was before this turn
                message = log_failure("talk", exc)
                if remembered is not None:  # the model forgets the failed turn too
                    memory.history[:], memory.summary = remembered
                yield {chat: before, heard: "", send: gr.update(interactive=True), memory_state: memory,
                       status: status_line("error", message)}
            finally:
                ticket.leave()

        def waiting(ahead: int) -> str:
            eta = ctx.line.wait_s(ahead)
            about = f", about {eta:.0f} s" if eta else ""
            return status_line("wait", f"You are {_ordinal(ahead + 1)} in line ({ahead} ahead of you{about}).")

        def latency(marks: dict, waited: float) -> str:
            """From pressing Send (what the visitor felt), then the processing stages alone."""
            felt = []
            for key, name in (("first_audio", "first audio"), ("first_video", "first video"), ("video", "video")):
                if key in marks:
                    felt.append(f"{name} **{marks[key] + waited:.1f} s**")
            stages = " · ".join(f"{k.replace('_', ' ')} {v:.2f} s" for k, v in marks.items()
                                if k in ("transcript", "first_audio", "first_video", "video"))
            line = f"**Latency from pressing Send** — {', '.join(felt)}"
            if waited >= 0.5:
                line += f" ({waited:.1f} s of it waiting in line)"
            return line + f"  \nProcessing alone: {stages}"

        def check_recording(path):
            """Refuse a broken or silent recording when it arrives, not after Send."""
            if not path:
                return gr.skip(), gr.skip()
            try:
                audio = load_audio(path)
                require_sound(audio)
            except Exception as exc:
                return None, status_line("error", log_failure("talk upload", exc))
            return gr.skip(), status_line("ready", f"a recording of {audio.duration:.1f} s: press Send.")

        def check_portrait(path, chosen, voice_n):
            """An uploaded portrait is selected at once, once a face is found in it."""
            if not path:
                return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            from avatar.face import detect_face, load_portrait
            from avatar.video_avatar import is_video, load_clip

            try:
                if is_video(path):  # a video avatar: its first frame stands for it until the first reply
                    frames, _ = load_clip(path, max_seconds=1.0)
                    detect_face(frames[0], path)
                    picture = str(save_first_frame(frames[0]))
                else:
                    detect_face(load_portrait(path), path)
                    picture = path
            except Exception as exc:
                return None, gr.skip(), gr.skip(), status_line("error", log_failure("talk portrait", exc)), gr.skip()
            what = "your video (a face was found): it loops while" if is_video(path) else \
                "your portrait (a face was found):"
            return (gr.skip(), UPLOAD, gr.update(value=picture, visible=True),
                    status_line("ready", f"{what} it answers from now on."), hint_text(chosen, voice_n, UPLOAD))

        def save_first_frame(frame):
            import cv2

            out = ctx.session_dir() / "first_frame.png"
            cv2.imwrite(str(out), frame)
            return out

        def on_face(face_n, face_upload, chosen, voice_n):
            from avatar.video_avatar import is_video

            picture = portrait_of(face_n, face_upload)
            if picture and is_video(picture):
                picture = None  # the still shows only pictures; the clip plays once it answers
            return (gr.update(value=str(picture) if picture else None, visible=True), gr.update(visible=False),
                    hint_text(chosen, voice_n, face_n))

        def on_persona(chosen, voice_n, face_n):
            persona = persona_of(chosen)
            return (describe(chosen or start), [], None, "", hint_text(chosen, voice_n, face_n),
                    status_line("info", f"Now talking to {persona.name}: a new conversation."))

        inputs = [mic, typed, asr_name, llm_name, llm_model, tts_name, lips_name, voice, face, upload, persona_state, chat,
                  memory_state]
        outputs = [mic, typed, send, status, heard, chat, audio_out, video, still, timings, memory_state]
        send.click(run, inputs, outputs, api_name="talk", show_progress="hidden", concurrency_limit=None)
        typed.submit(None, None, None, js="() => document.querySelector('#talk-send button, #talk-send')?.click()")
        mic.upload(check_recording, mic, [mic, status], show_progress="hidden")
        mic.stop_recording(check_recording, mic, [mic, status], show_progress="hidden")
        upload.upload(check_portrait, [upload, persona_state, voice], [upload, face, still, status, hint],
                      show_progress="hidden")
        face.change(on_face, [face, upload, persona_state, voice], [still, video, hint], show_progress="hidden")
        voice.change(hint_text, [persona_state, voice, face], hint, show_progress="hidden")
        def refresh_voices():  # clones made in the Voice Lab since the page loaded
            profiles.update({v.name: v for v in list_voices()})
            return gr.update(choices=[(voice_label(v), n) for n, v in profiles.items()])

        voice.focus(refresh_voices, None, voice, show_progress="hidden")
        persona_state.change(on_persona, [persona_state, voice, face],
                             [header, chat, memory_state, heard, hint, status], show_progress="hidden")
        reset.click(lambda: ([], None, "", "", status_line("info", "Conversation forgotten.")), None,
                    [chat, memory_state, heard, timings, status], show_progress="hidden")
