"""Audiobook tab: upload a book, pick chapters and a voice, narrate with progress and ETA, download the M4B.

The work folder is keyed by the book's bytes, so pressing Narrate again after a failure or a closed tab
continues from the sentences already made.
"""
from __future__ import annotations

import io
import shutil
from pathlib import Path

from .common import AppContext, user_error


def _choice(number: int, title: str, chars: int) -> str:
    return f"{number}. {title} ({chars:,} characters)"


def audiobook_tab(ctx: AppContext) -> None:
    import gradio as gr

    from ...books import read_book
    from ...jobs import ProgressLine, content_key

    def voices() -> list[str]:
        try:
            from voices.profiles import list_voices
            return [v.name for v in list_voices()]
        except Exception:
            return ["joe"]

    with gr.Tab("Audiobook"):
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="Book (.epub, .txt, .md)", file_types=[".epub", ".txt", ".md", ".markdown"],
                                 elem_id="book-file")
                about = gr.Markdown(elem_id="book-about")
                chapters = gr.CheckboxGroup(label="Chapters to narrate", choices=[], elem_id="book-chapters")
                voice = gr.Dropdown(voices(), value="joe", label="Voice", elem_id="book-voice")
                self_check = gr.Checkbox(value=True, label="Self-check every sentence with speech recognition "
                                                           "(slower; re-renders what it hears wrong)")
                button = gr.Button("Narrate", variant="primary")
            with gr.Column():
                status = gr.Markdown(elem_id="book-status")
                book_file = gr.File(label="Audiobook (M4B with chapters)", elem_id="book-m4b")
                chapter_files = gr.File(label="Chapter files and subtitles", file_count="multiple")
                report = gr.Markdown(elem_id="book-report")

        def load(path):
            if not path:
                return "", gr.update(choices=[], value=[])
            try:
                book = read_book(path)
            except Exception as exc:
                raise user_error(exc) from exc
            names = [_choice(n, c.title, c.chars) for n, c in enumerate(book.chapters, 1)]
            skipped = "".join(f"\n- {s.title} — {s.skip}" for s in book.skipped)
            text = (f"**{book.title}** — {book.author or 'unknown author'} ({book.language}, "
                    f"{len(book.chapters)} chapters, {book.chars:,} characters)"
                    + (f"\n\nNot narrated:{skipped}" if skipped else ""))
            return text, gr.update(choices=names, value=names)

        upload.change(load, [upload], [about, chapters])

        def narrate(path, chosen, voice_name, check, progress=gr.Progress()):
            from ...flows.audiobook import AudiobookFlow, AudiobookOptions
            from ..audiobook_cmd import build_checker, build_narrator

            if not path:
                raise gr.Error("Upload a book first.")
            if not chosen:
                raise gr.Error("Choose at least one chapter.")
            try:
                book = read_book(path)
                numbers = [int(c.split(".", 1)[0]) for c in chosen]
                narrator = build_narrator(ctx.config, voice=voice_name)
                folder = ctx.workdir / "audiobooks" / content_key(Path(path).read_bytes(), voice_name)
                asr = build_checker(ctx.config) if check else None
                line = ProgressLine("audiobook", stream=io.StringIO(), tty=False)

                def report_progress(fraction: float, message: str = "") -> None:
                    line(fraction, message)
                    eta = line.eta(fraction)
                    left = f" — about {int(eta // 60)} min {int(eta % 60)} s left" if eta else ""
                    progress(fraction, desc=f"{message}{left}")

                flow = AudiobookFlow(book, folder, narrator, asr=asr,
                                     options=AudiobookOptions(chapters=numbers, check=bool(check)),
                                     progress=report_progress)
                result = flow.run()
            except Exception as exc:
                raise user_error(exc) from exc
            download = ctx.session_dir() / result.book_file.name   # a fresh copy: the work folder stays private
            shutil.copyfile(result.book_file, download)
            files = [str(p) for p in result.chapter_files + result.srt_files]
            wrong = (f", **{len(result.wrong)} sentence(s) still wrong** (see the report)" if result.wrong
                     else (", self-check clean" if check else ""))
            text = (f"Done: {len(result.chapter_files)} chapter(s), {result.audio_seconds / 60:.1f} min of audio, "
                    f"{result.rendered} sentences rendered now in {result.seconds:.0f} s{wrong}.")
            return text, str(download), files, result.report.read_text(encoding="utf-8")

        button.click(narrate, [upload, chapters, voice, self_check], [status, book_file, chapter_files, report],
                     api_name="audiobook")
