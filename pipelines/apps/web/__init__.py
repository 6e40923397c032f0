"""The Gradio demo. Each tab is one module with one function; TABS is the one list, so adding a tab is a
module and a line here.

Stages come from the registry's shared cache: models load once and serve every tab and session (each
engine serialises its own model calls); each browser session keeps its own conversation memory.
Only the app's temp folder and the voices folder are ever served; the browser never names a path.
"""
from __future__ import annotations

import copy
import threading

from ...errors import DigitalHumanError
from .common import MAX_UPLOAD, PORTRAITS_DIR, AppContext
from .listen import listen_tab
from .podcast import podcast_tab
from .talk import talk_tab
from .voice_lab import voice_lab_tab

TABS = [talk_tab, voice_lab_tab, listen_tab, podcast_tab]  # the one list of tabs, in page order


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
