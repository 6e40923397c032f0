"""Who the visitor talks to: the persona picker and editor of the Talk tab.

Choices: the built-in default, the config's `[app] persona`, every `*.toml` in the personas folder
($DH_PERSONAS_DIR, default ~/.local/share/digital-human/personas), and every persona built there from a person's
writing by `dh persona build` (those answer from their passages). Edits apply to this
browser session only: nothing a visitor types is written to disk. The folder itself is never served.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...llm.persona import Persona, load_persona
from .common import AppContext, log_failure, personas_dir

DEFAULT = "(built-in)"
BUILT = "built from their writing"


@dataclass(frozen=True)
class BuiltPersona:
    """A persona built by `dh persona build`: its folder name and the Persona its style card makes."""
    name: str
    persona: Persona
    who: str = ""      # the person, as the persona was built ("Mei Lin, a bridge engineer")


def as_persona(choice) -> Persona:
    return choice.persona if isinstance(choice, BuiltPersona) else choice


def persona_choices(ctx: AppContext) -> dict[str, Path | None]:
    """Label -> persona file (None: the built-in default). Labels are what the dropdown shows."""
    found: dict[str, Path | None] = {}
    configured = ctx.config.get("app", {}).get("persona")
    if configured:
        found[_label(Path(configured).expanduser())] = Path(configured).expanduser()
    else:
        found[f"{Persona().name} {DEFAULT}"] = None
    root = personas_dir()
    if root.is_dir():
        for path in sorted(root.glob("*.toml")):
            found.setdefault(_label(path), path)
        from ...persona import list_personas

        for info in list_personas():  # folders: answered from their own passages
            found.setdefault(f"{info.name} ({BUILT})", info.folder)
    return found


def _label(path: Path) -> str:
    try:
        return f"{load_persona(path).name} ({path.parent.name if path.name == 'persona.toml' else path.stem})"
    except Exception:  # a broken file is still listed; picking it says what is wrong
        return f"? ({path.name})"


def facts_text(persona: Persona) -> str:
    """The facts one per line, with the persona's name where the file says {name}."""
    return "\n".join(f.replace("{name}", persona.name) for f in persona.facts)


def describe(choice) -> str:
    """The line over the Talk tab that says who answers (for a built persona: the person, not the prompt's
    style instructions)."""
    if isinstance(choice, BuiltPersona):
        return (f"### Talking to {choice.persona.name}\n{choice.who or choice.name}. Answers from their own "
                "writing, and says so when they never wrote about something.")
    persona = choice
    facts = " ".join(f.replace("{name}", persona.name) for f in persona.facts)
    return f"### Talking to {persona.name}\n{persona.style}." + (f" {facts}" if facts else "")


def persona_panel(ctx: AppContext):
    """Build the picker and editor; returns (header, picker, persona state) for the tab to wire up.
    The state holds the Persona of this session (None until one is picked: the default)."""
    import gradio as gr

    choices = persona_choices(ctx)
    first = next(iter(choices))
    start = start_persona(ctx)
    state = gr.State(None)
    with gr.Accordion("Who answers (persona)", open=False, elem_id="talk-persona-panel"):
        picker = gr.Dropdown(list(choices), value=first, label="Persona", elem_id="talk-persona-pick",
                             info="add NAME.toml persona files to the server's personas folder to list them here")
        name = gr.Textbox(start.name, label="Name", elem_id="talk-persona-name")
        style = gr.Textbox(start.style, label="Style", elem_id="talk-persona-style")
        facts = gr.Textbox(facts_text(start), label="Facts (one per line)", lines=3,
                           elem_id="talk-persona-facts")
        apply = gr.Button("Use these changes (this session only)", elem_id="talk-persona-apply")

    def on_pick(label):
        try:
            choice = _load(persona_choices(ctx).get(label))
        except Exception as exc:
            gr.Warning(log_failure("persona", exc))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        persona = as_persona(choice)
        return choice, persona.name, persona.style, facts_text(persona)

    def on_apply(current, new_name, new_style, new_facts):
        if isinstance(current, BuiltPersona):
            gr.Warning(f"{current.name} speaks from their own writing: edit style.toml in its folder on the "
                       "server (dh persona list shows where)")
            return gr.skip()
        base = current or start
        if not (new_name or "").strip():
            gr.Warning("give the persona a name")
            return gr.skip()
        lines = tuple(line.strip() for line in (new_facts or "").splitlines() if line.strip())
        shown = tuple(line.strip() for line in facts_text(base).splitlines() if line.strip())
        if lines == shown:  # facts untouched: keep the file's own, so "{name}" follows a new name
            lines = base.facts
        elif new_name.strip() != base.name:  # edited facts of a renamed persona: renamed with it
            lines = tuple(line.replace(base.name, new_name.strip()) for line in lines)
        return Persona(name=new_name.strip(), style=(new_style or "").strip() or base.style, facts=lines,
                       examples=base.examples if new_name.strip() == base.name else (),
                       fallback=base.fallback, language_note=base.language_note)

    picker.change(on_pick, picker, [state, name, style, facts], show_progress="hidden")
    apply.click(on_apply, [state, name, style, facts], state, show_progress="hidden")
    return state, start


def conversation_for(llm, chosen):
    """A fresh conversation with `chosen`: a built persona answers from its person's passages."""
    if isinstance(chosen, BuiltPersona):
        from ...persona import twin_conversation

        return twin_conversation(llm, chosen.name)
    from ...llm.conversation import Conversation

    return Conversation(llm, chosen)


def start_choice(ctx: AppContext):
    """Who answers before a visitor picks anyone: the config's persona (a built one keeps its passages), else
    the built-in one."""
    return _load(next(iter(persona_choices(ctx).values())))


def start_persona(ctx: AppContext) -> Persona:
    return as_persona(start_choice(ctx))


def _load(path: Path | None):
    if path is None:
        return Persona()
    if path.is_dir():
        from ...persona import Twin, open_persona

        store = open_persona(path.name)
        return BuiltPersona(path.name, Twin(store).persona, store.about)
    return load_persona(path)
