"""Conversation latency with the default offline stack: from the end of the user's speech to the first
reply audio and to the first video frame, with the per-stage breakdown, warm models, and the peak RSS of the
whole stack (this one process).
Usage: python bench/latency.py [--data ../shared/data] [--turns 3] [--set llm.llama-cpp.n_threads=2 ...]
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--question", type=Path, help="a recorded question (default: jfk.flac, 11 s of real speech)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config override, as for dh (repeatable)")
    args = parser.parse_args()

    from pipelines.audio import load_audio
    from pipelines.config import build_stage, load_config
    from pipelines.flows.conversation import ConversationFlow
    from pipelines.llm.conversation import Conversation

    config = load_config(overrides=args.overrides)
    names = {k: config[k]["engine"] for k in ("asr", "llm", "tts", "lipsync")}
    llm_options = config["llm"].get(names["llm"], {})
    names["llm"] += f" ({llm_options.get('model', 'default model')})" if names["llm"] == "llama-cpp" else ""
    question_path = args.question or args.data / "asr/en/jfk.flac"
    question = load_audio(question_path)
    flow = ConversationFlow(build_stage(config, "asr"), Conversation(build_stage(config, "llm")),
                            build_stage(config, "tts"), build_stage(config, "lipsync"),
                            ROOT / "avatar/portraits/eileen_collins.jpg", Path(tempfile.mkdtemp()))
    list(flow.turn(audio=question))  # warm-up: loads every model once
    rows = []
    for _ in range(args.turns):
        flow.conversation.reset()
        marks, audio_len = {}, 0.0
        for event in flow.turn(audio=question):
            if event.kind == "text" and "first_token" not in marks:
                marks["first_token"] = event.at
            marks.setdefault(event.kind, event.at)
            if event.kind == "audio":
                audio_len = event.value.audio.duration
            if event.kind == "sentence" and "first_voiced" not in marks:
                marks["first_voiced"] = event.value.text
            if event.kind == "done":
                marks["reply"] = event.value.reply
        marks["reply_seconds"] = audio_len
        rows.append(marks)
    med = {k: statistics.median(r[k] for r in rows) for k in rows[0] if k not in ("first_voiced", "reply")}
    print(f"Latency benchmark ({', '.join(f'{k}={v}' for k, v in names.items())}), {args.turns} turns, "
          f"question: {question_path.name} ({question.duration:.1f} s), median seconds after the speech ends\n")
    stages = [("ASR done (transcript)", "transcript"), ("LLM first token", "first_token"),
              ("first sentence voiced = first reply audio", "sentence"),
              ("first sentence rendered = first video frame", "first_video"),
              ("whole reply voiced", "audio"), ("whole reply video", "video")]
    previous = 0.0
    for label, key in stages:
        print(f"{label:46} {med[key]:6.2f} s   (+{med[key] - previous:5.2f})")
        previous = med[key]
    print(f"\nreply: {rows[-1]['reply']!r}; voiced first: {rows[-1]['first_voiced']!r}")
    print(f"reply length {med['reply_seconds']:.1f} s of speech; "
          f"peak RSS of the whole stack {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
          + (f"; overrides: {' '.join(args.overrides)}" if args.overrides else ""))


if __name__ == "__main__":
    main()
