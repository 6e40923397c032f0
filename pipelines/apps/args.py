"""Argument helpers every `dh` command module shares (cli.py and the <product>_cmd.py modules import this,
never each other)."""
from __future__ import annotations

import sys
import traceback
from pathlib import Path

from .. import registry
from ..errors import DigitalHumanError, UserInputError


def output_args(parser, default: str) -> None:
    """--out/--srt/--overwrite, read back by `outputs`."""
    parser.add_argument("--out", default=default, help=f"output file (default: {default})")
    parser.add_argument("--srt", action="store_true", help="also write subtitles from the word timings")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files")


def outputs(args) -> tuple[Path, Path | None]:
    """The output file (and its sidecar SRT); refuses to replace existing files without --overwrite."""
    out = Path(args.out)
    srt = out.with_suffix(".srt") if args.srt else None
    for target in (out, srt):
        if target is not None and target.exists() and not args.overwrite:
            raise UserInputError("already exists; pass --overwrite to replace it", path=target)
    return out, srt


def engine_options(config: dict, kind: str, engine: str | None) -> dict:
    """The option table of the engine that will run (after --engine), for CLI flags to fill in."""
    section = config.setdefault(kind, {})
    if engine:
        section["engine"] = engine
    return section.setdefault(section.get("engine") or registry.DEFAULTS[kind], {})


def check_face(face: str, options: dict) -> None:
    """Read the portrait and find its face (or check the mouth box) before anything slow happens."""
    from avatar.face import detect_face, layout_from_mouth, load_portrait, parse_box
    from avatar.video_avatar import is_video, load_clip

    if is_video(face):
        frames, _ = load_clip(face, max_seconds=1.0)  # readable, with a face in its first frame
        detect_face(frames[0], face)
        return
    image = load_portrait(face)
    if options.get("mouth"):
        layout_from_mouth(parse_box(str(options["mouth"])), image.shape)
    else:
        detect_face(image, face)


def report_error(exc: BaseException, verbose: bool) -> None:
    """One line on stderr for a failed command or file (the traceback only with -v)."""
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, DigitalHumanError):
        print(f"error: {exc}", file=sys.stderr)
    else:
        print(f"error: unexpected {type(exc).__name__}: {exc} (run with -v for details)", file=sys.stderr)
