"""LLM stage: prompts, persona and memory with a fake; the bundled Gemma in process and behind a real
OpenAI-compatible server (llama_cpp.server) on loopback; failures that must never hang."""
import socket
import subprocess
import sys
import time

import pytest

from pipelines import registry
from pipelines.errors import ServiceUnavailable, UserInputError
from pipelines.llm.conversation import Conversation
from pipelines.llm.persona import Persona, load_persona
from pipelines.llm.prompting import completion_prompt
from pipelines.types import Message


class FakeLLM:
    """Implements the LLM Protocol; counts one token per word; records what it was asked."""

    context_size = 400

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
    assert [m.content for m in sent[1:3]] == ["Hi", "What now?"] and sent[2].name == "Zed"


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
    assert "They talked about numbers." in sent[0].content  # running summary in the system prompt
    assert sent[-1].content.startswith("number 29")        # newest turn kept verbatim
    assert any(m.content.startswith("echo number 28") for m in sent)
    assert not any("number 0 " in m.content for m in sent[1:])  # oldest turns only live in the summary


def test_empty_reply_becomes_the_fallback_and_is_remembered():
    conv = Conversation(FakeLLM(replies=["   "]), Persona(fallback="Pardon?"))
    assert "".join(conv.say("mumble")) == "Pardon?"
    assert conv.history[-1].content == "Pardon?"


def test_a_message_longer_than_the_context_is_a_clear_error():
    with pytest.raises(UserInputError, match="message too long"):
        "".join(Conversation(FakeLLM()).say("word " * 500))


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


@pytest.mark.slow
def test_bundled_gemma_streams_a_reply_in_persona():
    llm = registry.build("llm", "llama-cpp")
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
    llm = registry.build("llm", "openai", base_url=server, api=api, max_tokens=32)
    assert llm.model == "gemma-270m"  # discovered from /v1/models
    conv = Conversation(llm, Persona(name="Zed"))
    pieces = list(conv.say("Hello! What is your name?"))
    assert "".join(pieces).strip()
    if api == "completion":
        assert len(pieces) > 1 and "Zed" in "".join(pieces)


@pytest.mark.slow
def test_cli_reply_and_chat(capsys, monkeypatch):
    from pipelines.apps.cli import main

    assert main(["reply", "What", "is", "your", "name?"]) == 0
    assert "Aria" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("Hi!\n/reset\nWho are you?\n"))
    assert main(["chat"]) == 0
    out = capsys.readouterr().out
    assert out.count("Aria>") == 2
