"""Voice Lab tab: clone a voice from clips, review labels, train or resume, compare."""
from __future__ import annotations

from pathlib import Path

from ...errors import UserInputError
from .common import AppContext, user_error


def voice_lab_tab(ctx: AppContext) -> None:
    """Clone a voice: upload clips or a long recording, review the labels, train (or resume), compare."""
    import shutil

    import gradio as gr

    from voices.dataset import Clip, read_metadata, write_metadata
    from voices.finetune import AUTO_PRESET, CPU_PRESET, GPU_PRESET, PRESETS, CloneOptions, clone_voice
    from voices.profiles import user_voices_dir

    with gr.Tab("Voice Lab"):
        gr.Markdown("Give about 20 clips of 2–10 s (or one long recording) of **one** person who agreed to "
                    "be cloned. Review the transcripts, then train. The `auto` preset trains "
                    f"`{GPU_PRESET}` on a CUDA GPU and `{CPU_PRESET}` on a CPU; Resume continues a training, also "
                    "with a longer preset. What each preset gives, measured, is listed under the Train button.")
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
                                      interactive=True, wrap=True, elem_id="lab-labels",
                                      # the long text column took the whole width: status and reason,
                                      # the columns a user edits to leave a clip out, were off screen
                                      column_widths=["14%", "44%", "16%", "12%", "14%"])
                save = gr.Button("Save my corrections")
        with gr.Row():
            preset = gr.Dropdown([AUTO_PRESET, *PRESETS], value=AUTO_PRESET, label="Preset")
            steps = gr.Number(value=0, label="Steps (0: the preset's)", precision=0)
            margin = gr.Number(value=2, label="Words margin (WER points)", minimum=0, maximum=50,
                               info="a kept step may be misheard this much more than the base voice; more keeps "
                                    "a closer voice that is misheard more often (fixed once a voice trains)")
            resume = gr.Checkbox(label="Resume (an interrupted training, or a finished one with a longer preset)")
            train = gr.Button("2. Train", variant="primary", elem_id="lab-train")
        gr.Markdown("What each preset gives, measured: " + "".join(f"\n- `{k}`: {v.gives}" for k, v in PRESETS.items()))
        with gr.Row():
            base_sample = gr.Audio(label="Base voice", elem_id="lab-base")
            clone_sample = gr.Audio(label="Your clone", elem_id="lab-clone")
        report = gr.Markdown(elem_id="lab-report")
        owned = gr.State([])  # the voices this browser session started: the only ones it may open

        def dataset_dir(voice: str, mine: list) -> Path:
            voice = (voice or "").strip()
            if not voice or any(ch in voice for ch in "/\\:") or voice.startswith("."):
                raise UserInputError("give the voice a simple name (letters, digits, - or _)")
            folder = user_voices_dir() / voice
            if folder.exists() and voice not in mine and not ctx.owner_present:
                raise UserInputError(f"a voice named '{voice}' already exists on this server; pick another name")
            return folder / "dataset"

        def gather(uploads) -> Path:
            if not uploads:
                raise UserInputError("upload some clips (or one long recording) first")
            folder = ctx.session_dir() / "uploads"
            folder.mkdir()
            for i, f in enumerate(uploads):  # our own names: nothing from the browser names a path here
                src = Path(f if isinstance(f, str) else f.name)
                shutil.copy(src, folder / f"{i:03d}{src.suffix.lower()}")
            return folder if len(uploads) > 1 else next(folder.iterdir())

        def on_prepare(uploads, voice, mine, progress=gr.Progress()):
            from voices.dataset import prepare_dataset

            try:
                target = dataset_dir(voice, mine)
                mine = [*mine, voice.strip()]
                clips = prepare_dataset(gather(uploads), target, ctx.stage("asr"),
                                        progress=lambda f, m="": progress(f, desc=m))
            except Exception as exc:
                raise user_error(exc, "voice lab") from None
            return [[c.file, c.text, c.duration, c.status, c.reason] for c in clips], mine

        def on_save(table, voice, mine):
            try:
                meta = dataset_dir(voice, mine) / "metadata.tsv"
                old = {c.file: c for c in read_metadata(meta)}
                rows = table.values.tolist() if hasattr(table, "values") else table
                clips = [Clip(str(r[0]), str(r[1]), float(r[2] or 0), str(r[3] or "ok"), str(r[4] or ""),
                              old.get(str(r[0]), Clip("")).source) for r in rows if str(r[0]) in old]
                write_metadata(meta, clips)
            except Exception as exc:
                raise user_error(exc, "voice lab") from None
            gr.Info("Labels saved.")

        def on_train(uploads, voice, who, preset_name, n_steps, points, again, mine, progress=gr.Progress()):
            try:
                data = dataset_dir(voice, mine)
                source = data if (data / "metadata.tsv").is_file() else gather(uploads)
                options = CloneOptions(name=voice.strip(), consent=who or "", preset=preset_name,
                                       steps=int(n_steps) if n_steps else None, resume=bool(again),
                                       # a resumed voice keeps the margin it was trained under
                                       wer_margin=None if again or points is None else float(points))
                profile = clone_voice(source, options, asr=ctx.stage("asr"),
                                      progress=lambda f, m="": progress(f, desc=m))
            except Exception as exc:
                raise user_error(exc, "voice lab") from None
            text = clone_summary(profile)
            samples = profile.folder / "samples"  # copies: the voice folder itself is never served
            return ctx.serve_copy(samples / "base_1.wav"), ctx.serve_copy(samples / "clone_1.wav"), text

        prepare.click(on_prepare, [files, name, owned], [labels, owned])
        save.click(on_save, [labels, name, owned], None)
        train.click(on_train, [files, name, consent, preset, steps, margin, resume, owned],
                    [base_sample, clone_sample, report])


# the verdict is written once, for the report and the CLI; in the Voice Lab its command-line advice names the
# controls on the page instead (a user there has no `--resume` to type)
IN_THE_LABS_WORDS = (
    ("--resume with --preset good", "tick Resume and pick the `good` preset"),
    ("--preset gpu", "the `gpu` preset"),
    ("--preset clear", "the `clear` preset"),
    ("a larger --wer-margin", "a larger Words margin"),
    ("--wer-margin", "Words margin"),
    ("clone again without turning pitch matching off", "clone again with pitch matching on (`dh clone`'s default)"),
    ("check the labels in dataset/metadata.tsv", "check the labels in the table above"),
)


def in_the_labs_words(verdict: str) -> str:
    for cli, lab in IN_THE_LABS_WORDS:
        verdict = verdict.replace(cli, lab)
    return verdict


def clone_summary(profile) -> str:
    """The finished clone's verdict and figures, as the Voice Lab shows them (the CLI prints the same)."""
    q = profile.quality

    def hz(key: str) -> str:
        return f"{q[key]:.0f} Hz" if q.get(key) else "–"

    def st(key: str) -> str:
        return f"{q[key]:.2f} semitones" if q.get(key) else "–"

    def mos(key: str) -> str:
        return f"{q[key]:.2f}" if q.get(key) else "–"

    return (f"### {profile.name}: {in_the_labs_words(q['verdict'])}\n\n"
            "| | similarity to the person | round-trip WER | median pitch | melody (pitch spread) | "
            "how clean (DNSMOS, 1-5) |\n"
            "|---|---|---|---|---|---|\n"
            f"| base | {q['base_similarity']:.3f} | {q['base_wer']:.1%} | {hz('base_pitch_hz')} | "
            f"{st('base_pitch_spread')} | {mos('base_dnsmos')} |\n"
            f"| clone | {q['clone_similarity']:.3f} | {q['clone_wer']:.1%} | {hz('clone_pitch_hz')} | "
            f"{st('clone_pitch_spread')} | {mos('clone_dnsmos')} |\n"
            f"| the person | | | {hz('person_pitch_hz')} | {st('person_pitch_spread')} | "
            f"{mos('person_dnsmos')} |\n\n"
            f"Training: {profile.training.get('minutes', 0)} min, {profile.training.get('steps')} steps."
            + (f" Trained in the base voice's register, spoken {profile.pitch_shift:+.1f} semitones from it."
               if profile.pitch_shift else "")
            + (f" Speaks with the base voice's melody, x {profile.melody_gain:g} (the person's range)."
               if profile.melody_gain else ""))
