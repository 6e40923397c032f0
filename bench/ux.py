"""How fast `dh` refuses a new user's mistakes, and what it says (issue 16).

Each case runs the real CLI in a fresh process (as a user would), with stderr going to a file (not a
terminal); prints the exit code, the wall time and the first line of the message.

    python bench/ux.py
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


def run(args: list[str], cwd: Path) -> tuple[int, float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "pipelines.apps.cli", *args], cwd=cwd, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                          "DH_VOICES_DIR": str(cwd / "voices")})
    seconds = time.perf_counter() - started
    lines = [line for line in done.stderr.splitlines() if line.strip() and "%" not in line]  # not progress
    return done.returncode, seconds, lines[0] if lines else ""


def main() -> None:
    import cv2

    work = Path(tempfile.mkdtemp(prefix="dh-bench-ux-"))
    blank = work / "blank.png"
    cv2.imwrite(str(blank), np.full((256, 256, 3), 200, np.uint8))
    broken = work / "broken.epub"
    with zipfile.ZipFile(broken, "w") as z:
        z.writestr("junk", b"\x00" * 64)
    latin = work / "latin.txt"
    latin.write_bytes("Dr. Müller ordered a café crème.".encode("latin-1"))
    from pipelines.audio import save_audio
    from pipelines.types import Audio

    silence = save_audio(work / "silence.wav", Audio(np.zeros(22050, np.float32), 22050))
    face = SHARED / "faces" / "astronaut_eileen_collins.png"
    cases = [
        ("render --face blank.png --text …", ["render", "--face", str(blank), "--text", "Hello there, how are you "
                                             "today? I am fine.", "--out", str(work / "a.mp4")]),
        ("render --audio silence.wav", ["render", "--face", str(face), "--audio", str(silence),
                                        "--out", str(work / "b.mp4")]),
        ("say --file book.epub", ["say", "--file", str(SHARED / "books" / "robinson_crusoe_pg521.epub"),
                                  "--out", str(work / "c.wav")]),
        ("say --file broken.epub", ["say", "--file", str(broken), "--out", str(work / "d.wav")]),
        ("say --file latin-1.txt", ["say", "--file", str(latin), "--engine", "vits-onnx",
                                    "--out", str(work / "e.wav")]),
        ("demo --host 0.0.0.0 (no --auth)", ["demo", "--host", "0.0.0.0"]),
    ]
    print(f"| case | exit | seconds | first line on stderr |\n|---|---|---|---|")
    for name, args in cases:
        code, seconds, line = run(args, work)
        line = line.replace(str(work) + "/", "").replace(str(SHARED) + "/", "")
        print(f"| `dh {name}` | {code} | {seconds:.1f} | {line[:110]} |")


if __name__ == "__main__":
    main()
