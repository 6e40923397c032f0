"""The conversation flow with fakes that implement the real Protocols, then with the real offline stack."""
import time

import av
import numpy as np
import pytest

from pipelines import registry
from pipelines.errors import StageError, UserInputError
from pipelines.flows.conversation import ConversationFlow, complete_sentences, join_speech, run_turn
from pipelines.llm.conversation import Conversation
from pipelines.llm.persona import Persona
from pipelines.types import Audio, Speech, Timing, Video

from .conftest import tone
from .fakes import FakeASR


class SlowLLM:
    """Streams a fixed reply word by word, slowly, so pipelining can be observed."""

    def __init__(self, reply="Hello there. This is the second sentence. And a third one.", delay=0.05, fail=False):
        self.text, self.delay, self.fail, self.finished_at = reply, delay, fail, None

    def reply(self, messages):
        for i, word in enumerate(self.text.split(" ")):
            time.sleep(self.delay)
            if self.fail and i == 3:
                raise RuntimeError("server went away")
            yield word if i == 0 else " " + word
        self.finished_at = time.perf_counter()


class ToneTTS:
    def __init__(self):
        self.calls = []

    def synthesize(self, text):
        self.calls.append((text, time.perf_counter()))
        words = text.split()
        audio = Audio(tone(0.1 * len(words), 22050), 22050)
        timed = tuple(Timing(w, 0.1 * i, 0.1 * (i + 1)) for i, w in enumerate(words))
        return Speech(audio, text, (), timed)


class RecordingLipSync:
    def __init__(self):
        self.rendered = []

    def render(self, face, speech, out, *, progress=None):
        self.rendered.append((face, speech.audio.duration, out))
        return Video(out, speech.audio.duration)


def test_streamed_text_is_cut_into_finished_sentences():
    assert complete_sentences("Hello there. This is") == (["Hello there."], "This is")
    assert complete_sentences("Dr. Smith is") == ([], "Dr. Smith is")
    assert complete_sentences("One! Two? ") == (["One!", "Two?"], "")


def test_join_speech_shifts_timings():
    a = Speech(Audio(np.zeros(22050, np.float32), 22050), "a", (), (Timing("a", 0.1, 0.5),))
    b = Speech(Audio(np.zeros(11025, np.float32), 22050), "b", (), (Timing("b", 0.0, 0.2),))
    joined = join_speech([a, b], pause=0.5)
    assert joined.audio.duration == pytest.approx(2.0)
    assert joined.words[1] == Timing("b", 1.5, 1.7)


def test_first_sentence_is_voiced_while_the_llm_still_writes(tmp_path):
    llm, tts, lips = SlowLLM(), ToneTTS(), RecordingLipSync()
    flow = ConversationFlow(FakeASR(), Conversation(llm, Persona(sentences=3)), tts, lips, "face.png", tmp_path)
    events = list(flow.turn(audio=Audio(tone(1.0), 16000)))
    kinds = [e.kind for e in events]
    assert kinds[0] == "transcript" and kinds[-1] == "done"
    assert kinds.index("sentence") < kinds.index("audio")
    assert tts.calls[0][0] == "Hello there." and tts.calls[0][1] < llm.finished_at  # pipelined
    assert len(tts.calls) == 3
    result = events[-1].value
    assert result.reply == llm.text and result.transcript.text == "hello from the fake"
    assert [f for f, _, _ in lips.rendered] == ["face.png", "face.png"]  # first sentence, then the whole reply
    assert lips.rendered[1][1] == pytest.approx(result.speech.audio.duration)


def test_text_input_skips_asr_and_no_portrait_means_no_video(tmp_path):
    asr = FakeASR()
    flow = ConversationFlow(asr, Conversation(SlowLLM(delay=0), Persona()), ToneTTS())
    result = run_turn(flow, text="hi")
    assert asr.calls == 0 and result.video is None and result.speech.audio.duration > 0


def test_stage_failures_are_tagged_with_the_stage(tmp_path):
    flow = ConversationFlow(FakeASR(FakeASR.Config(fail=True)), Conversation(SlowLLM(), Persona()), ToneTTS())
    with pytest.raises(StageError, match="asr stage 'FakeASR' failed: fake ASR failure"):
        run_turn(flow, audio=Audio(tone(1.0), 16000))
    flow = ConversationFlow(None, Conversation(SlowLLM(fail=True, delay=0), Persona()), ToneTTS())
    with pytest.raises(StageError, match="llm stage 'SlowLLM' failed: server went away"):
        run_turn(flow, text="hi")
    with pytest.raises(UserInputError, match="no audio and no text"):
        run_turn(flow)


@pytest.mark.slow
def test_real_offline_stack_turns_a_spoken_question_into_a_talking_video(shared, tmp_path):
    from pipelines.audio import load_audio

    flow = ConversationFlow(
        registry.build("asr", "faster-whisper"),
        Conversation(registry.build("llm", "llama-cpp"), Persona(name="Ada")),
        registry.build("tts", "vits-onnx"), registry.build("lipsync", "warp"),
        shared / "faces/astronaut_eileen_collins.png", tmp_path)
    result = run_turn(flow, audio=load_audio(shared / "asr/en/jfk.flac"))
    assert "ask not what your country" in result.transcript.text.lower()
    assert result.reply and result.speech.audio.duration > 0.5
    assert result.timings["sentence"] <= result.timings["audio"]
    with av.open(str(result.video.path)) as c:
        kinds = {s.type for s in c.streams}
        frames = sum(1 for _ in c.decode(video=0))
    assert kinds == {"video", "audio"}
    assert abs(frames / 25 - result.speech.audio.duration) <= 0.04 + 1e-6
