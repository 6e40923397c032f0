"""Both Whisper engines on the bundled weights and the real recordings in ../shared/data."""
from dataclasses import replace

import numpy as np
import pytest

from pipelines import registry
from pipelines.audio import load_audio
from pipelines.errors import UserInputError
from pipelines.text import char_error_rate, word_error_rate
from pipelines.types import Audio, Segment, Word

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


def test_text_without_a_word_or_looping_one_phrase_is_degenerate():
    from pipelines.asr.repair import is_degenerate

    for broken in ["¶¶¶¶¶¶¶¶", " ... ", "♪ ♪", "I'm sorry. " * 12]:
        assert is_degenerate(broken), broken
    for fine in ["Hi.", "And so my fellow Americans, ask not what your country can do for you.",
                 "广州市房地产中介协会分析", "It was 1984, the year we met. Then 1985, the year we left home."]:
        assert not is_degenerate(fine), fine


def test_a_stretch_whisper_gave_up_on_is_heard_again_and_a_silent_gap_is_not(shared):
    """Whisper can leave '¶¶¶' where twenty seconds of speech were; the words must come back."""
    from pipelines.asr.repair import rehear, unheard_spans

    asr = registry.build("asr", "faster-whisper")
    jfk = load_audio(shared / "asr/en/jfk.flac")
    heard = list(asr.transcribe(jfk).segments)
    pause = np.zeros(5 * 16000, np.float32)
    paused = Audio(np.concatenate([jfk.samples, pause, jfk.samples]), 16000, "jfk, 5 s pause, jfk")
    assert unheard_spans(list(asr.transcribe(paused).segments), paused) == []  # a pause is not lost speech

    def decode(start, end):
        piece = Audio(paused.samples[int(start * 16000):int(end * 16000)], 16000, "piece")
        return [replace(s, start=s.start + start, end=s.end + start,
                        words=tuple(replace(w, start=w.start + start, end=w.end + start) for w in s.words))
                for s in asr.transcribe(piece).segments]

    given_up = heard + [Segment(26.5, 27.0, "¶¶¶¶¶¶¶¶¶¶¶¶", ())]  # the second speech lost, symbols at its end
    spans = unheard_spans(given_up, paused)
    assert len(spans) == 1 and 10 <= spans[0][0] <= 16 and spans[0][1] >= 26.9, spans  # not the first speech again
    notes = []
    repaired = rehear(given_up, paused, decode, notes.append)
    text = " ".join(s.text for s in repaired)
    assert text.lower().count("country") == 4 and "¶" not in text, text
    assert repaired[-1].start > 16 and notes == [f"hearing {spans[0][0]:.0f}-{spans[0][1]:.0f} s again"]


def test_faster_whisper_hears_again_what_its_decoding_gave_up_on(shared, monkeypatch):
    from faster_whisper import WhisperModel

    asr = registry.build("asr", "faster-whisper")
    plain = WhisperModel.transcribe
    calls = []

    def gives_up_after_20_s(self, audio, **options):  # the first pass turns everything past 20 s into symbols
        pieces, info = plain(self, audio, **options)
        calls.append(options.get("condition_on_previous_text", True))
        if len(calls) > 1:
            return pieces, info
        return (p if p.start < 20 else replace(p, text="¶" * 40) for p in pieces), info

    monkeypatch.setattr(WhisperModel, "transcribe", gives_up_after_20_s)
    long = Audio(np.tile(load_audio(shared / "asr/en/jfk.flac").samples, 3), 16000, "jfk x3")  # 33 s
    transcript = asr.transcribe(long)
    assert transcript.text.lower().count("country") == 6 and "¶" not in transcript.text, transcript.text
    assert calls[0] is True and calls[1:] and not any(calls[1:])  # heard again without the previous text


def test_a_second_hearing_drops_the_words_it_repeats_at_its_seams():
    from pipelines.asr.repair import rehear

    def seg(start, *texts):
        words = tuple(Word(t, start + i * 0.4, start + i * 0.4 + 0.3) for i, t in enumerate(texts))
        return Segment(words[0].start, words[-1].end, " ".join(texts), words)

    tone = np.sin(np.arange(16000 * 10) * 0.05).astype(np.float32) * 0.3  # sounds all along
    first = [seg(0.0, "Ask", "not", "what", "your", "country."), seg(8.0, "Ask", "what", "you", "can", "do.")]
    again = [seg(1.8, "your", "country."), seg(3.0, "And", "so,", "my", "fellow", "Americans,"), seg(7.0, "Ask", "what")]
    spans = []
    repaired = rehear(first, Audio(tone, 16000, "tone"), lambda a, b: spans.append((a, b)) or again)
    assert len(spans) == 1
    assert [s.text for s in repaired] == ["Ask not what your country.", "And so, my fellow Americans,",
                                          "Ask what you can do."]


@pytest.mark.slow
def test_hard_audio_reads_the_same_in_every_run(shared, tmp_path):
    """Speech under heavy noise makes Whisper fall back to sampling; two runs of the same work must read it
    the same (a clone's round-trip WER was moving between identical runs). Each run is its own process:
    within one, the sampler's draws go on from call to call as they should."""
    import subprocess
    import sys

    clip = load_audio(shared / "voice/ljspeech/wavs/LJ001-0008.wav", 16000).samples
    for seed in (3, 4):   # -12 dB: read 3-4 ways in 4 tries
        noisy = clip / np.std(clip) + np.random.default_rng(seed).standard_normal(len(clip)) * 10 ** (12 / 20)
        np.save(tmp_path / f"noisy{seed}.npy", (0.5 * noisy / np.abs(noisy).max()).astype(np.float32))
    script = ("import sys, numpy as np; from pipelines import registry; from pipelines.types import Audio; "
              "asr = registry.build('asr', 'faster-whisper'); "
              "print([[asr.transcribe(Audio(np.load(f), 16000), language='en').text for _ in range(4)] "
              "for f in sys.argv[1:]])")
    runs = [subprocess.run([sys.executable, "-c", script, *map(str, sorted(tmp_path.glob("noisy*.npy")))],
                           capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
            for _ in range(2)]
    assert any(len(set(readings)) > 1 for readings in eval(runs[0])), runs[0]   # it does sample
    assert runs[0] == runs[1]
