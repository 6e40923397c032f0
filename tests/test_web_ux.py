"""The demo's pieces that need no browser: the line visitors wait in, and who may reach the server."""
import threading
import time

import pytest

from pipelines.apps.web import check_exposure, is_local
from pipelines.apps.web.common import Line
from pipelines.errors import DigitalHumanError


def test_the_line_serves_in_order_and_says_where_each_one_stands():
    line = Line()
    tickets = [line.join() for _ in range(3)]
    assert [t.ahead() for t in tickets] == [0, 1, 2]
    assert line.wait_s(2) is None  # no estimate before one turn was measured
    assert tickets[0].wait(0.01) and not tickets[1].wait(0.01)
    served = []

    def visitor(i):
        while not tickets[i].wait(0.05):
            pass
        served.append(i)
        tickets[i].leave()

    threads = [threading.Thread(target=visitor, args=(i,)) for i in (2, 1)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    assert served == []  # nobody jumps the one being served
    tickets[0].leave()
    for t in threads:
        t.join(5)
    assert served == [1, 2]
    assert line.wait_s(2) is not None and line.wait_s(2) >= 0


def test_a_visitor_who_left_does_not_block_the_line(monkeypatch):
    line = Line()
    monkeypatch.setattr(Line, "STALE_S", 0.2)
    first, gone, last = line.join(), line.join(), line.join()
    assert first.wait(0.01)
    first.leave()
    time.sleep(0.3)  # `gone` never asks again: its page was closed while it waited
    assert last.wait(1.0) and last.ahead() == 0


@pytest.mark.parametrize("host,local", [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                        ("0.0.0.0", False), ("192.168.1.20", False), ("my-laptop", False)])
def test_only_loopback_counts_as_local(host, local):
    assert is_local(host) is local


def test_beyond_localhost_a_login_is_required_or_loudly_waived(capsys):
    check_exposure("127.0.0.1", False, None, False)  # local: fine as it is
    check_exposure("0.0.0.0", False, ("me", "secret"), False)  # with a login: fine
    with pytest.raises(DigitalHumanError, match="without a login"):
        check_exposure("0.0.0.0", False, None, False)
    with pytest.raises(DigitalHumanError, match="public share link"):
        check_exposure("127.0.0.1", True, None, False)
    check_exposure("0.0.0.0", False, None, True)
    assert "WITHOUT A LOGIN" in capsys.readouterr().err


def test_the_persona_line_names_the_persona_not_a_template_placeholder():
    from pipelines.apps.web.persona_panel import describe, facts_text
    from pipelines.llm.persona import Persona

    for persona in (Persona(), Persona(name="Mei")):
        shown = describe(persona) + facts_text(persona)
        assert "{name}" not in shown and f"{persona.name} is a digital human" in shown


def test_a_built_persona_is_introduced_by_who_they_are_not_by_prompt_instructions():
    from pipelines.apps.web.persona_panel import BuiltPersona, describe
    from pipelines.llm.persona import Persona

    built = BuiltPersona("mei", Persona(name="Mei Lin", style="you are a real person, not an assistant"),
                         "Mei Lin, a bridge engineer")
    line = describe(built)
    assert "Talking to Mei Lin" in line and "bridge engineer" in line and "not an assistant" not in line
