"""`dh`: the command line. One of the two places (with web.py) that turn names into engines."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .. import registry
from ..config import build_stage, load_config
from ..errors import DigitalHumanError, UserInputError
from ..formats import FORMATS, render
from ..jobs import ProgressLine
from .args import check_face, engine_options, output_args, outputs, report_error
from . import persona_cmd
from . import podcast_cmd

log = logging.getLogger("dh")


def _progress_printer(label: str) -> ProgressLine:
    """One updating line on a terminal; a plain line every few seconds when stderr is a file."""
    return ProgressLine(label)


def cmd_transcribe(args, config) -> int:
    if args.engine:
        config.setdefault("asr", {})["engine"] = args.engine
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    asr = build_stage(config, "asr")
    failed = 0
    for name in args.files:
        target = out_dir / f"{Path(name).stem}.{args.format}"
        try:
            if target.exists() and not args.overwrite:
                raise DigitalHumanError(f"{target}: already exists; pass --overwrite to replace it")
            transcript = asr.transcribe(name, language=args.language, progress=_progress_printer(name))
            tmp = target.with_name(target.name + ".partial")
            tmp.write_text(render(transcript, args.format), encoding="utf-8")
            tmp.replace(target)
            print(f"{name} -> {target} [{transcript.language}, {transcript.duration:.1f} s]")
        except Exception as exc:  # one bad file must not stop the others
            failed += 1
            report_error(exc, args.verbose)
    if failed:
        print(f"{failed} of {len(args.files)} file(s) failed", file=sys.stderr)
    return 1 if failed else 0


def _conversation(args, config):
    from ..llm.conversation import Conversation
    from ..llm.persona import load_persona
    from ..persona import is_built_persona, twin_conversation

    options = engine_options(config, "llm", args.engine)
    if args.model:
        options["model"] = args.model
    choice = args.persona or config.get("app", {}).get("persona")
    if is_built_persona(choice):  # a persona built by `dh persona build`: answers grounded in their writing
        return twin_conversation(build_stage(config, "llm"), choice)
    if choice and not Path(choice).suffix and not Path(choice).exists():
        raise UserInputError(f"'{choice}' is neither a persona file nor a built persona (see: dh persona list)")
    return Conversation(build_stage(config, "llm"), load_persona(choice))


def cmd_reply(args, config) -> int:
    conversation = _conversation(args, config)
    for piece in conversation.say(" ".join(args.text)):
        print(piece, end="", flush=True)
    print()
    if args.sources:
        from ..persona import describe_sources

        print("sources:\n" + ("\n".join(describe_sources(conversation))
                               or "(not a built persona: no passages are retrieved)"))
    return 0


def cmd_chat(args, config) -> int:
    conversation = _conversation(args, config)
    print(f"Chatting with {conversation.persona.name}. /reset forgets, /quit (or Ctrl-D) leaves.", file=sys.stderr)
    while True:
        try:
            line = input("you> ").strip()
        except EOFError:
            print(file=sys.stderr)
            return 0
        if line in ("/quit", "/exit"):
            return 0
        if line == "/reset":
            conversation.reset()
            continue
        if not line:
            continue
        print(f"{conversation.persona.name}> ", end="", flush=True)
        try:
            for piece in conversation.say(line):
                print(piece, end="", flush=True)
            print()
        except DigitalHumanError as exc:  # a failed turn ends the turn, not the chat
            print()
            report_error(exc, args.verbose)


def cmd_voices(args, config) -> int:
    from voices.profiles import list_voices, user_voices_dir

    for v in list_voices():
        where = "built-in" if v.builtin else str(v.folder)
        quality = ""
        if v.quality.get("clone_similarity") is not None:
            quality = f"  similarity {v.quality['clone_similarity']:.2f}, WER {v.quality['clone_wer']:.0%}"
            if v.quality.get("clone_pitch_hz") and v.quality.get("person_pitch_hz"):
                quality += f", pitch {v.quality['clone_pitch_hz']:.0f} Hz (the person {v.quality['person_pitch_hz']:.0f} Hz)"
        print(f"{v.name:16} {v.language:4} {v.description}{quality}  [{where}]")
    root = user_voices_dir()
    unfinished = sorted(p for p in root.iterdir() if p.is_dir() and not (p / "voice.toml").is_file()) \
        if root.is_dir() else []
    for folder in unfinished:
        if (folder / "training" / "checkpoint.pt").is_file() or (folder / "dataset" / "metadata.tsv").is_file():
            state = f"unfinished clone: continue with dh clone DATA --name {folder.name} --resume"
        else:
            state = "empty leftover of a failed clone: safe to delete"
        print(f"{folder.name:16} ---- ({state})  [{folder}]")
    print(f"(your voices live in {root}; set DH_VOICES_DIR to move them)", file=sys.stderr)
    return 0


def cmd_say(args, config) -> int:
    from ..audio import save_audio
    from ..formats import words_to_srt

    if args.file:
        from ..textfile import read_text_file

        text, encoding = read_text_file(args.file, book_hint="narrate books with: dh audiobook BOOK.epub")
        if encoding not in ("UTF-8",):
            print(f"{args.file}: read as {encoding} text (not UTF-8)", file=sys.stderr)
    else:
        text = " ".join(args.text)
    if not text.strip():
        raise UserInputError("nothing to say: give TEXT or --file")
    out, srt = outputs(args)
    options = engine_options(config, "tts", args.engine)
    for key in ("voice", "speed", "pitch"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    progress = _progress_printer(f"say -> {out}")
    progress(0.0, "loading the voice")
    speech = build_stage(config, "tts").synthesize(text, progress=progress)
    save_audio(out, speech.audio)
    if srt:
        srt.write_text(words_to_srt(speech.words), encoding="utf-8")
    print(f"{out} [{speech.audio.duration:.1f} s, {len(speech.words)} words]" + (f" + {srt}" if srt else ""))
    return 0


def cmd_render(args, config) -> int:
    from ..audio import load_audio
    from ..formats import words_to_srt
    from ..types import Speech, Timing

    if bool(args.audio) == bool(args.text):
        raise UserInputError("give either --audio SPEECH (a recording) or --text TEXT (spoken by the voice stage)")
    out, srt = outputs(args)
    options = engine_options(config, "lipsync", args.engine)
    if args.mouth:
        options["mouth"] = args.mouth
    if args.captions:
        options["captions"] = True
    if args.fps:
        options["fps"] = args.fps
    check_face(args.face, options)  # a bad portrait or video fails before any speech is made
    if args.text:
        speech = build_stage(config, "tts").synthesize(args.text, progress=_progress_printer("voice"))
    else:
        speech = Speech(load_audio(args.audio, 22050))
        _warn_if_silent(speech.audio, args.audio)
        if args.srt or args.captions:  # word timings for subtitles come from the ASR stage
            transcript = build_stage(config, "asr").transcribe(speech.audio, progress=_progress_printer("words"))
            words = tuple(Timing(w.text, w.start, w.end) for w in transcript.words)
            speech = Speech(speech.audio, transcript.text, (), words)
    video = build_stage(config, "lipsync").render(args.face, speech, out, progress=_progress_printer(str(out)))
    if srt:
        srt.write_text(words_to_srt(speech.words), encoding="utf-8")
    print(f"{out} [{video.duration:.2f} s, {video.size[0]}x{video.size[1]}, {video.fps:g} fps]" +
          (f" + {srt}" if srt else ""))
    return 0


def _warn_if_silent(audio, name: str) -> None:
    """A silent recording makes a video with a closed mouth: say so (transcribe refuses the same file)."""
    from ..audio import require_sound

    try:
        require_sound(audio)
    except UserInputError as exc:
        print(f"warning: {name}: {exc.message}; the video will show a closed mouth", file=sys.stderr)


def cmd_clone(args, config) -> int:
    from voices.finetune import CloneOptions, clone_voice

    options = CloneOptions(name=args.name, consent=args.consent or "", preset=args.preset, base=args.base,
                           steps=args.steps, resume=args.resume, language=args.language, device=args.device,
                           max_minutes=args.minutes, match_pitch=not args.keep_base_pitch,
                           borrow_melody=not args.own_melody, wer_margin=args.wer_margin)
    asr = build_stage(config, "asr")
    profile = clone_voice(args.data, options, asr=asr, progress=_progress_printer(f"clone {args.name}"))
    q = profile.quality
    print(f"voice '{profile.name}' saved in {profile.folder}")
    print(f"  similarity to the person: clone {q['clone_similarity']:.3f}, base {q['base_similarity']:.3f}"
          f" (their own clips {q['real_clips_similarity']:.3f})")
    print(f"  round-trip WER: clone {q['clone_wer']:.1%}, base {q['base_wer']:.1%}")
    if q.get("clone_pitch_hz") and q.get("person_pitch_hz"):
        moved = f" (trained in {Path(profile.base).name}'s register, spoken {profile.pitch_shift:+.1f} semitones from it)" \
            if profile.pitch_shift else ""
        print(f"  median pitch: clone {q['clone_pitch_hz']:.0f} Hz, the person {q['person_pitch_hz']:.0f} Hz{moved}")
    if q.get("clone_pitch_spread") and q.get("person_pitch_spread"):
        borrowed = f" (with {Path(profile.base).name}'s melody, x {profile.melody_gain:g})" if profile.melody_gain else ""
        print(f"  melody (pitch spread): clone {q['clone_pitch_spread']:.2f} semitones{borrowed}, "
              f"the person {q['person_pitch_spread']:.2f}")
    if q.get("clone_dnsmos"):
        print(f"  how clean it sounds (DNSMOS, 1-5): clone {q['clone_dnsmos']:.2f}, base {q['base_dnsmos']:.2f}, "
              f"the person's clips {q['person_dnsmos']:.2f}")
    if "kept_step" in profile.training:
        print(f"  kept step {profile.training['kept_step']} of {profile.training['trained_steps']}: "
              f"{profile.training['kept_because']} (curve: {profile.folder / 'curve.png'})")
    print(f"  {q['verdict']}")
    print(f"  try it: dh say \"Hello!\" --voice {profile.name} --out hello.wav")
    return 0


def cmd_engines(args, config) -> int:
    for kind in [args.kind] if args.kind else registry.REGISTRY:
        for name, spec in registry.REGISTRY[kind].items():
            missing = registry.missing_modules(kind, name)
            state = f"  (missing: pip install \"digital-human[{spec.extra}]\")" if missing else ""
            default = " [default]" if registry.DEFAULTS.get(kind) == name else ""
            print(f"{kind:8} {name:16} {spec.summary}{default}{state}")
    return 0


def cmd_demo(args, config) -> int:
    from .web import launch

    launch(config, host=args.host, port=args.port, share=args.share, auth=args.auth, insecure=args.insecure_no_auth)
    return 0




def presets_epilog(presets: dict) -> str:
    """One wrapped paragraph per preset, its name first: what the user gets, measured, before starting."""
    import textwrap

    lines = ["presets (measured figures):"]
    for name, preset in presets.items():
        lines += textwrap.wrap(preset.gives, width=100, initial_indent=f"  {name:<6} ", subsequent_indent=" " * 9,
                               break_on_hyphens=False)   # ranges such as 0.74-0.76 stay whole
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dh", description="digital-human: a voice-clone digital human, offline.")
    parser.add_argument("--config", metavar="FILE", help="TOML config file (see README)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set asr.whisper.beam_size=5 (repeatable)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details and show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("transcribe", help="speech to text (txt, json, srt, vtt)")
    p.add_argument("files", nargs="+", metavar="FILE", help="audio or video files")
    p.add_argument("--engine", choices=registry.names("asr"), help="ASR engine (default from config)")
    p.add_argument("--language", help="language code, e.g. en or zh (default: detect)")
    p.add_argument("--format", choices=FORMATS, default="txt")
    p.add_argument("--out", default=".", metavar="DIR", help="output folder (default: current)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=cmd_transcribe)

    for cmd, helptext, func in (("reply", "one reply to TEXT, streamed", cmd_reply),
                                ("chat", "a text chat in the terminal", cmd_chat)):
        p = sub.add_parser(cmd, help=helptext)
        if cmd == "reply":
            p.add_argument("text", nargs="+", help="what you say")
            p.add_argument("--sources", action="store_true", help="print the persona passages the reply used")
        p.add_argument("--engine", choices=registry.names("llm"), help="LLM engine (default from config)")
        p.add_argument("--model", help="qwen2.5-coder-1.5b (default), qwen2.5-coder-0.5b, gemma-3-270m, "
                                       "or a .gguf file (with --engine openai: the server's model name)")
        p.add_argument("--persona", metavar="FILE|NAME",
                       help="persona TOML (name, style, facts, examples), or a persona built by dh persona build")
        p.set_defaults(func=func)

    p = sub.add_parser("say", help="text to speech in a voice (wav, optional srt)")
    p.add_argument("text", nargs="*", help="what to say (or --file)")
    p.add_argument("--file", metavar="TXT", help="read the text from a file")
    p.add_argument("--voice", help="voice profile name (see: dh voices)")
    p.add_argument("--engine", choices=registry.names("tts"), help="TTS engine (default from config)")
    p.add_argument("--speed", type=float, help="1.0 normal, 1.2 faster, 0.8 slower")
    p.add_argument("--pitch", type=float, help="pitch shift in semitones, e.g. -2")
    output_args(p, "speech.wav")
    p.set_defaults(func=cmd_say)

    p = sub.add_parser("render", help="a lip-synced talking-head video from one portrait")
    p.add_argument("--face", required=True, metavar="PORTRAIT", help="a frontal portrait (png, jpg, …) or a 5-30 s video of the person")
    p.add_argument("--audio", metavar="SPEECH", help="speech to lip-sync (any audio or video file)")
    p.add_argument("--text", help="or: text for the voice stage to speak (exact phoneme timing)")
    p.add_argument("--engine", choices=registry.names("lipsync"), help="lip-sync engine (default from config)")
    p.add_argument("--mouth", metavar="X,Y,W,H", help="mouth box in pixels, when no face is detected")
    p.add_argument("--fps", type=float, help="frames per second (default 25)")
    p.add_argument("--captions", action="store_true", help="burn the words into the video")
    output_args(p, "video.mp4")
    p.set_defaults(func=cmd_render)

    from voices.finetune import AUTO_PRESET, CPU_PRESET, GPU_PRESET, PRESET_ALIASES, PRESETS

    p = sub.add_parser("clone", help="fine-tune a voice on ~20 short clips (or one long recording)",
                       epilog=presets_epilog(PRESETS), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", help="a folder of clips (wav/flac/mp3/…, optional metadata.csv) or one recording/video")
    p.add_argument("--name", required=True, help="name of the new voice profile")
    p.add_argument("--consent", help="who gave consent, when and how (stored in the profile; required)")
    p.add_argument("--preset", choices=[AUTO_PRESET, *PRESETS, *PRESET_ALIASES], default=AUTO_PRESET,
                   metavar="PRESET",
                   help=f"{AUTO_PRESET}, {', '.join(PRESETS)} (default: {AUTO_PRESET}: {GPU_PRESET} on a CUDA GPU, "
                        f"else {CPU_PRESET}; with --resume, the preset the training last ran; what each gives is "
                        "below; old names: " + ", ".join(f"{a} = {b}" for a, b in PRESET_ALIASES.items()) + ")")
    p.add_argument("--steps", type=int, help="override the preset's number of training steps")
    p.add_argument("--minutes", type=float, help="stop training after this many minutes, keeping the best "
                                                 "checkpoint so far (continue later with --resume)")
    p.add_argument("--base", default="joe", help="voice to start from (default: joe)")
    p.add_argument("--language", help="language of the clips for the labels (default: detect)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted training, or a finished one with a longer --preset")
    p.add_argument("--keep-base-pitch", action="store_true",
                   help="train on the clips as they are; by default, a person who speaks 3 or more semitones "
                        "from the base voice is trained in its register and spoken back at their own pitch "
                        "(a fine-tuned voice keeps its base voice's pitch otherwise)")
    p.add_argument("--wer-margin", type=float, metavar="POINTS",
                   help="how many points of round-trip WER over the base voice's a kept step may have (default "
                        "2): more keeps a voice closer to the person that is misheard more often; fixed for a "
                        "voice once its training starts")
    p.add_argument("--own-melody", action="store_true",
                   help="speak with the fine-tuned voice's own intonation; by default a clone speaks with its "
                        "base voice's, widened or narrowed to the person's range (a few CPU minutes of "
                        "fine-tuning leave a voice nearly monotone)")
    p.set_defaults(func=cmd_clone)

    persona_cmd.add_parser(sub)
    podcast_cmd.add_parser(sub)

    p = sub.add_parser("voices", help="list voice profiles")
    p.set_defaults(func=cmd_voices)

    p = sub.add_parser("engines", help="list the registered engines of each stage")
    p.add_argument("kind", nargs="?", choices=list(registry.REGISTRY))
    p.set_defaults(func=cmd_engines)

    p = sub.add_parser("demo", help="start the Gradio web demo")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: localhost only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="ask Gradio for a public link (off by default)")
    p.add_argument("--auth", metavar="USER:PASS", help="require this login (required beyond localhost)")
    p.add_argument("--insecure-no-auth", action="store_true",
                   help="serve beyond localhost without a login (anyone reaching it can use your voices)")
    p.set_defaults(func=cmd_demo)
    from . import present_cmd; present_cmd.add_parser(sub)  # noqa: E702
    from .audiobook_cmd import add_parser as add_audiobook_parser
    add_audiobook_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config, args.overrides)
        return args.func(args, config)
    except DigitalHumanError as exc:
        report_error(exc, args.verbose)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
