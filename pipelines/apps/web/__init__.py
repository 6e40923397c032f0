"""The Gradio demo. Each tab is one module with one function; TABS is the one list, so adding a tab is a
module and a line here.

Stages come from the registry's shared cache: models load once and serve every tab and session (each
engine serialises its own model calls); each browser session keeps its own conversation memory.
Privacy: the server serves only what a page needs — files the app made for this page (copied into its temp
folder and Gradio's cache) and the built-in portraits — never a person's recordings, transcripts, consent or
weights (the voices, personas and model-cache folders are blocked). Bound beyond localhost it needs a login.
"""
from __future__ import annotations

import copy
import ipaddress
import logging
import sys
import threading

from ...errors import DigitalHumanError
from .audiobook import audiobook_tab
from .common import CSS, MAX_UPLOAD, PORTRAITS_DIR, AppContext, private_paths
from .listen import listen_tab
from .persona_panel import conversation_for, start_choice
from .podcast import podcast_tab
from .presenter import presenter_tab
from .talk import talk_tab
from .voice_lab import voice_lab_tab

log = logging.getLogger("dh.web")
TABS = [talk_tab, voice_lab_tab, listen_tab, podcast_tab, audiobook_tab, presenter_tab]  # the one list of tabs, in page order


def build_app(config: dict):
    import gradio as gr

    ctx = AppContext(copy.deepcopy(config))
    with gr.Blocks(title="digital-human") as app:
        gr.Markdown("# digital-human\nA voice-clone digital human that runs offline.")
        for tab in TABS:
            tab(ctx)
    app.dh_context = ctx
    return app


def warm_up(ctx: AppContext) -> threading.Thread:
    """Load the default models in the background, and have the LLM read the starting persona's prompt, so the
    first visitor does not wait for them (on 2 cores that prompt alone is ~8 s the first time)."""
    def load():
        for kind, attr in (("asr", "model"), ("llm", "llm"), ("tts", "model")):
            try:
                getattr(ctx.stage(kind), attr, None)
            except Exception:  # the request that needs it will report the problem properly
                pass
        try:
            conversation_for(ctx.stage("llm"), start_choice(ctx)).warm()
        except Exception as exc:
            log.warning("warm-up: the persona's prompt was not prepared (%s)", exc)
    thread = threading.Thread(target=load, name="warm-up", daemon=True)
    thread.start()
    return thread


def is_local(host: str) -> bool:
    """Whether only this machine can reach the server."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_exposure(host: str, share: bool, credentials, insecure: bool) -> None:
    """Anyone who can reach the demo can make the cloned voices say anything: beyond localhost, a login is
    required (or explicitly waived, with a loud warning)."""
    exposed = share or not is_local(host)
    if not exposed or credentials:
        return
    where = "a public share link" if share else f"{host} (reachable from other machines)"
    if not insecure:
        raise DigitalHumanError(f"refusing to serve the demo on {where} without a login: add --auth USER:PASSWORD "
                                "(or --insecure-no-auth if you really mean it)")
    bar = "!" * 78
    print(f"{bar}\nWARNING: the demo is served on {where} WITHOUT A LOGIN.\nAnyone who reaches it can use "
          f"every voice and persona on this machine. Use --auth USER:PASSWORD.\n{bar}", file=sys.stderr)


def launch(config: dict, *, host: str = "127.0.0.1", port: int = 7860, share: bool = False,
           auth: str | None = None, block: bool = True, warm: bool = True, insecure: bool = False):
    credentials = None
    if auth:
        user, sep, password = auth.partition(":")
        if not sep or not user or not password:
            raise DigitalHumanError("--auth must look like user:password")
        credentials = (user, password)
    check_exposure(host, share, credentials, insecure)
    app = build_app(config)
    app.dh_context.owner_present = is_local(host) and not share
    if warm:
        warm_up(app.dh_context)
    app.queue(default_concurrency_limit=1).launch(
        server_name=host, server_port=port, share=share, auth=credentials, max_file_size=MAX_UPLOAD,
        prevent_thread_lock=not block, show_error=True, css=CSS,
        # the app's own work folder: pages link to files there (the Podcast tab's player plays the upload)
        allowed_paths=[str(PORTRAITS_DIR), str(app.dh_context.workdir)], blocked_paths=private_paths())
    return app
