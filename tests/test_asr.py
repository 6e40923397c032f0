"""Both Whisper engines on the bundled weights and the real recordings in ../shared/data."""
import numpy as np
import pytest

from pipelines import registry
from pipelines.audio import load_audio
from pipelines.errors import UserInputError
from pipelines.text import char_error_rate, word_error_rate
from pipelines.types import Audio

from .conftest import read_tsv

pytestmark = pytest.mark.slow
ENGINES = registry.names("asr")


@pytest.fixture(scope="module", params=ENGINES)
def asr(request):
    return registry.build("asr", request.param)


def english(shared):
    return [(shared / "asr/en" / r["file"], r["transcript"]) for r in read_tsv(shared / "asr/en/transcripts.tsv")]


def test_english_word_error_rate(asr, shared):
    for path, reference in english(shared):
        transcript = asr.transcribe(path)
        assert transcript.language == "en", path
        wer = word_error_rate(reference, transcript.text)
        assert wer <= 0.15, f"{path.name}: WER {wer:.2f}: {transcript.text!r}"


def test_mandarin_character_error_rate_in_simplified_script(asr, shared):
    row = read_tsv(shared / "asr/zh/transcripts.tsv")[0]
    transcript = asr.transcribe(shared / "asr/zh" / row["file"])
    assert transcript.language == "zh"
    cer = char_error_rate(row["transcript"], transcript.text)
    assert cer <= 0.30, f"CER {cer:.2f}: {transcript.text!r}"
    assert "广州" in transcript.text  # simplified, not 廣州


def test_word_timestamps_are_monotonic_and_inside_the_audio(asr, shared):
    path = shared / "asr/en/jfk.flac"
    transcript = asr.transcribe(path)
    words = transcript.words
    assert len(words) >= 20
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= transcript.duration for w in words)
    for seg in transcript.segments:
        assert seg.start <= seg.words[0].start and seg.words[-1].end <= seg.end
    # "country" is the last word JFK says, near the end of the 11 s clip
    assert words[-1].text.strip(".").lower() == "country" and words[-1].end > 9.0


def test_long_audio_is_transcribed_whole_with_progress(asr, shared):
    """Five different real recordings back to back (~40 s): more than one 30 s window, nothing lost."""
    clips = [("jfk.flac", "ask not what your country"), ("1995-1837-0001.wav", "great sorrow"),
             ("251-118436-0001.wav", "not poison"), ("3536-23268-0010.wav", "another door"),
             ("jfk.flac", "fellow americans")]
    gap = np.zeros(8000, np.float32)
    parts = [np.concatenate([load_audio(shared / "asr/en" / name).samples, gap]) for name, _ in clips]
    long = Audio(np.concatenate(parts), 16000, "five-recordings")
    seen = []
    transcript = asr.transcribe(long, progress=lambda f, m="": seen.append(f))
    text = " ".join(transcript.text.lower().replace(",", "").split())
    for _, phrase in clips:
        assert phrase in text, (phrase, text)
    assert text.count("ask not what your country") == 2
    assert seen[-1] == 1.0 and seen == sorted(seen) and len(seen) >= 3
    assert transcript.segments[-1].end > long.duration - 5


def test_silence_is_refused_with_the_file_name(asr, tmp_path):
    import soundfile as sf

    sf.write(tmp_path / "quiet.wav", np.zeros(32000, np.float32), 16000)
    with pytest.raises(UserInputError, match="quiet.wav: audio is silent"):
        asr.transcribe(tmp_path / "quiet.wav")


def test_rebuilt_whisper_gives_the_same_tokens_as_ctranslate2(shared):
    """The in-memory rebuild is exact: greedy tokens on jfk.flac equal faster-whisper's CT2 model's."""
    import torch
    import whisper
    from faster_whisper import WhisperModel

    from pipelines.asr.bundled import whisper_base_dir

    torch_model = registry.build("asr", "whisper").model
    audio = whisper.pad_or_trim(torch.from_numpy(load_audio(shared / "asr/en/jfk.flac").samples))
    mel = whisper.log_mel_spectrogram(audio)
    options = whisper.DecodingOptions(language="en", without_timestamps=True, fp16=False)
    with torch.inference_mode():
        ours = whisper.decode(torch_model, mel, options).tokens

    ct2 = WhisperModel(str(whisper_base_dir()), device="cpu", compute_type="float32").model
    import ctranslate2

    tokenizer = whisper.tokenizer.get_tokenizer(True, language="en", task="transcribe")
    prompt = list(tokenizer.sot_sequence_including_notimestamps)
    result = ct2.generate(ctranslate2.StorageView.from_array(mel[None].numpy()), [prompt], beam_size=1)
    theirs = [t for t in result[0].sequences_ids[0] if t != tokenizer.eot]
    assert ours == theirs
    assert "ask not what your country" in tokenizer.decode(ours)


def test_faster_whisper_encodes_a_short_question_once_when_detecting_its_language(shared, monkeypatch):
    """Detecting the language used to cost a second encoder pass (0.57 s of a 1.9 s question on 2 cores)."""
    from faster_whisper import WhisperModel

    asr = registry.build("asr", "faster-whisper")
    calls = []
    plain = WhisperModel.encode
    monkeypatch.setattr(WhisperModel, "encode", lambda self, features: calls.append(1) or plain(self, features))
    for path, language, phrase in [(shared / "asr/en/jfk.flac", "en", "ask not what your country"),
                                   (shared / "asr/zh/BAC009S0724W0121.wav", "zh", "广州")]:
        calls.clear()
        transcript = asr.transcribe(path)
        assert transcript.language == language and phrase in transcript.text.lower(), transcript.text
        assert len(calls) == 1, f"{path.name}: encoder ran {len(calls)} times"
    long = Audio(np.tile(load_audio(shared / "asr/en/jfk.flac").samples, 4), 16000, "jfk x4")  # 44 s
    calls.clear()
    transcript = asr.transcribe(long)  # later windows are encoded as usual: the whole 44 s is heard
    assert transcript.text.lower().count("country") >= 6 and transcript.segments[-1].end > 40, transcript.text
    assert len(calls) >= 2
