"""`dh persona`: build a twin's mind from a person's own writing, list, show and delete personas.

    dh persona build notes/ diary.md chat.txt --name mei --about "Mei Lin, bridge engineer" --consent "..."
    dh persona list
    dh persona show mei
    dh persona delete mei
    dh reply --persona mei --sources "Where did you grow up?"
"""
from __future__ import annotations

import sys

from ..errors import UserInputError
from ..jobs import ProgressLine

FINETUNE_ON_CPU = (
    "fine-tuning a persona (a LoRA of the local model on question/answer pairs from their texts) is not offered "
    "without a GPU: it trains the unquantized model (1.5B parameters: about 3 GB in 16-bit, beside the model that "
    "answers) with backpropagation, which a laptop CPU runs at a few tokens a second, so even a small run takes "
    "hours. The persona answers by retrieval from their own writing instead, which needs no training.")


def cmd_build(args, config) -> int:
    from ..persona import build_persona

    store = build_persona(args.texts, args.name, about=args.about or "", consent=args.consent or "",
                          speaker=args.speaker or "", update=args.update, use_embeddings=not args.keywords_only,
                          progress=ProgressLine(f"persona {args.name}"))
    print(f"persona '{store.name}' saved in {store.folder} (private: never served by the demo)")
    print(f"  {len(store.passages)} passages from {len(store.sources)} file(s); index {store.index_bytes() / 1024:.0f} KB"
          f" ({'keywords + ' + store.embedder if store.embedder else 'keywords only'})")
    print(f"  style: {store.style.describe() or '(too little text to tell)'}")
    print(f"  {len(store.examples)} example answers in their own words; edit {store.folder / 'style.toml'} and "
          f"{store.folder / 'examples.toml'} freely")
    print(f"  try it: dh reply --persona {store.name} --sources \"Where did you grow up?\"")
    return 0


def cmd_list(args, config) -> int:
    from ..persona import list_personas, personas_dir

    for p in list_personas():
        about = f"  {p.about}" if p.about else ""
        print(f"{p.name:16} {p.passages:5} passages from {p.sources} file(s){about}  [consent: {p.consent}]")
    print(f"(personas live in {personas_dir()}; set DH_PERSONAS_DIR to move them)", file=sys.stderr)
    return 0


def cmd_show(args, config) -> int:
    from ..persona import open_persona

    store = open_persona(args.name)
    print(f"{store.name}: {store.about}")
    print(f"  folder: {store.folder}")
    print(f"  consent: {store.consent.get('given_by', '?')} (recorded {store.consent.get('recorded', '?')})")
    print(f"  sources: {len(store.sources)} file(s), {len(store.passages)} passages, "
          f"index {store.index_bytes() / 1024:.0f} KB, embeddings: {store.embedder or 'none'}")
    print(f"  style: {store.style.describe()}")
    for user, reply in store.examples:
        print(f"  example: {user!r} -> {reply!r}")
    return 0


def cmd_delete(args, config) -> int:
    from ..persona import delete_persona

    folder = delete_persona(args.name)
    print(f"deleted persona '{args.name}': {folder} and everything derived from the texts (the texts themselves "
          "were not touched)")
    return 0


def cmd_finetune(args, config) -> int:
    import importlib.util

    cuda = False
    if importlib.util.find_spec("torch") is not None:
        import torch

        cuda = torch.cuda.is_available()
    if not cuda:
        raise UserInputError(FINETUNE_ON_CPU)
    raise UserInputError("fine-tuning is not part of this version yet, even with a GPU; the persona answers "
                         "by retrieval from their writing")


def add_parser(sub) -> None:
    p = sub.add_parser("persona", help="a twin's mind from a person's own writing: build, list, show, delete")
    verbs = p.add_subparsers(dest="persona_command", required=True)

    b = verbs.add_parser("build", help="index a person's notes, letters and chat exports into a persona")
    b.add_argument("texts", nargs="*", metavar="TEXTS",
                   help="files or folders: .txt, .md, .docx, WhatsApp/WeChat text exports (English, Chinese)")
    b.add_argument("--name", required=True, help="the persona's name (used with --persona NAME)")
    b.add_argument("--about", help='one line about the person, e.g. "Mei Lin, a bridge engineer from Hangzhou"')
    b.add_argument("--consent", help="who agreed that their writing becomes this persona, when and how (required)")
    b.add_argument("--speaker", help="the person's name as chat exports write it (default: --name)")
    b.add_argument("--update", action="store_true",
                   help="rebuild an existing persona, adding these texts (edited style and examples are kept)")
    b.add_argument("--keywords-only", action="store_true", help="no sentence embeddings (faster, English weaker)")
    b.set_defaults(func=cmd_build)

    v = verbs.add_parser("list", help="the built personas")
    v.set_defaults(func=cmd_list)
    v = verbs.add_parser("show", help="a persona's sources, consent, style card and examples")
    v.add_argument("name")
    v.set_defaults(func=cmd_show)
    v = verbs.add_parser("delete", help="remove a persona and every file derived from the texts")
    v.add_argument("name")
    v.set_defaults(func=cmd_delete)
    v = verbs.add_parser("finetune", help="LoRA fine-tuning on their texts (GPU only; says why not on a CPU)")
    v.add_argument("name")
    v.set_defaults(func=cmd_finetune)
