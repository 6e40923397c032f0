"""`dh present script.md --face … --voice … --out video.mp4`: a captioned newscaster video from a script."""
from __future__ import annotations

from pathlib import Path


def add_parser(sub) -> None:
    from .. import registry

    p = sub.add_parser("present", help="a captioned presenter video (title card, lower third, slides) from a "
                                       "Markdown script")
    p.add_argument("script", help="Markdown script: '# Title', paragraphs, optional ![](slide.png) lines and a "
                                  "front matter with name:, role:, background:")
    p.add_argument("--face", required=True, metavar="PORTRAIT", help="a frontal portrait or a 5-30 s video")
    p.add_argument("--voice", help="voice profile name (see: dh voices)")
    p.add_argument("--engine", choices=registry.names("lipsync"), help="lip-sync engine (default from config)")
    p.add_argument("--persona", metavar="NAME", help="a persona built by dh persona build: its person's name and "
                                                     "about line fill the lower third")
    p.add_argument("--name", help="lower-third name (overrides the script's)")
    p.add_argument("--role", help="lower-third second line (overrides the script's)")
    p.add_argument("--background", metavar="IMAGE", help="background image (overrides the script's)")
    p.add_argument("--size", default="1280x720", metavar="WxH", help="video size (default 1280x720)")
    p.add_argument("--no-captions", action="store_true", help="do not burn the words in")
    p.add_argument("--out", default="presentation.mp4", help="output file (default: presentation.mp4)")
    p.add_argument("--srt", action="store_true", help="also write subtitles from the word timings")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.set_defaults(func=cmd_present)


def cmd_present(args, config) -> int:
    from dataclasses import replace

    from ..config import build_stage
    from ..errors import UserInputError
    from ..flows.presenter import parse_script, present
    from ..formats import words_to_srt
    from ..jobs import ProgressLine
    from .args import check_face, engine_options

    out = Path(args.out)
    srt = out.with_suffix(".srt") if args.srt else None
    for target in (out, srt):
        if target is not None and target.exists() and not args.overwrite:
            raise UserInputError("already exists; pass --overwrite to replace it", path=target)
    script = parse_script(args.script)
    if args.persona:
        from ..persona import open_persona

        store = open_persona(args.persona, refresh=False)
        script = replace(script, name=store.speaker or store.name, role=store.about or script.role)
    if args.name is not None or args.role is not None:
        script = replace(script, name=args.name if args.name is not None else script.name,
                         role=args.role if args.role is not None else script.role)
    if args.background:
        if not Path(args.background).is_file():
            raise UserInputError("background image not found", path=args.background)
        script = replace(script, background=Path(args.background))
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise UserInputError(f"--size must look like 1280x720, got '{args.size}'") from None
    check_face(args.face, {})  # a bad face fails before any speech is made
    if args.voice:
        engine_options(config, "tts", None)["voice"] = args.voice
    engine_options(config, "lipsync", args.engine)
    result = present(script, build_stage(config, "tts"), build_stage(config, "lipsync"), args.face, out,
                     captions=not args.no_captions, width=width, height=height,
                     progress=ProgressLine(str(out)))
    if srt:
        srt.write_text(words_to_srt(result.words), encoding="utf-8")
    v = result.video
    print(f"{out} [{v.duration:.2f} s, {v.size[0]}x{v.size[1]}, {len(script.paragraphs)} paragraphs]"
          + (f" + {srt}" if srt else ""))
    return 0
