import numpy as np
import pytest
import soundfile as sf

from pipelines.audio import load_audio, require_sound, resample, save_audio
from pipelines.errors import UserInputError
from pipelines.types import Audio

from .conftest import tone
from .media import encode_audio, encode_silent_video


@pytest.fixture(scope="module")
def jfk(shared):
    return load_audio(shared / "asr/en/jfk.flac")


def test_real_recording_decodes_to_16k_mono(jfk):
    assert jfk.sample_rate == 16000 and jfk.samples.dtype == np.float32
    assert jfk.duration == pytest.approx(11.0, abs=0.01)
    assert 0.3 < np.abs(jfk.samples).max() <= 1.5


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3", ".m4a", ".ogg", ".mp4"])
def test_common_formats_decode_to_the_same_signal(tmp_path, jfk, suffix):
    clip = jfk.slice(0, 4)
    path = encode_audio(clip.samples, 16000, tmp_path / f"clip{suffix}", with_video=suffix == ".mp4")
    got = load_audio(path)
    assert got.duration == pytest.approx(clip.duration, abs=0.08)  # codec padding/priming only
    # same envelope: correlation of 50 ms RMS frames, robust to codec delay and lossy noise
    def env(x):
        n = len(x) // 800 * 800
        return np.sqrt(np.square(x[:n].reshape(-1, 800)).mean(1))
    a, b = env(clip.samples), env(got.samples)
    n = min(len(a), len(b))
    assert np.corrcoef(a[:n], b[:n])[0, 1] > 0.95


def test_stereo_44k_is_downmixed_and_resampled(tmp_path):
    left = tone(1.0, 44100, 440)
    sf.write(tmp_path / "st.wav", np.stack([left, left], 1), 44100)
    got = load_audio(tmp_path / "st.wav")
    assert got.sample_rate == 16000 and got.duration == pytest.approx(1.0, abs=0.01)
    spectrum = np.abs(np.fft.rfft(got.samples))
    assert np.argmax(spectrum) * 16000 / len(got.samples) == pytest.approx(440, abs=2)


def test_resample_keeps_pitch_and_length():
    a = Audio(tone(2.0, 22050, 300), 22050)
    b = resample(a, 16000)
    assert b.duration == pytest.approx(2.0, abs=0.01)
    assert np.argmax(np.abs(np.fft.rfft(b.samples))) * 16000 / len(b.samples) == pytest.approx(300, abs=1)


def test_save_and_reload_roundtrip(tmp_path):
    a = Audio(tone(0.5), 16000)
    got = load_audio(save_audio(tmp_path / "sub/x.wav", a))
    assert np.max(np.abs(got.samples - a.samples)) < 1e-3


def _bad_inputs(tmp_path, shared):
    wav = (shared / "asr/en/1995-1837-0001.wav").read_bytes()
    flac = (shared / "asr/en/jfk.flac").read_bytes()
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "notes.wav").write_text("this is not audio")
    (tmp_path / "cut.wav").write_bytes(wav[:60000])
    (tmp_path / "cut.flac").write_bytes(flac[:300000])
    (tmp_path / "header.wav").write_bytes(wav[:44])
    encode_silent_video(tmp_path / "mute.mp4")
    (tmp_path / "folder.wav").mkdir()
    return {
        "empty.wav": "empty",
        "notes.wav": "not a readable audio",
        "cut.wav": "truncated",
        "cut.flac": "truncated",
        "header.wav": "truncated",
        "mute.mp4": "no audio track",
        "folder.wav": "is a folder",
        "missing.wav": "file not found",
    }


def test_bad_inputs_name_the_file_and_the_problem(tmp_path, shared):
    for name, message in _bad_inputs(tmp_path, shared).items():
        with pytest.raises(UserInputError, match=message) as err:
            load_audio(tmp_path / name)
        assert name in str(err.value)


def test_silence_and_tiny_clips_are_refused_by_name():
    with pytest.raises(UserInputError, match=r"quiet.wav: audio is silent"):
        require_sound(Audio(np.zeros(16000, np.float32), 16000, "quiet.wav"))
    with pytest.raises(UserInputError, match="too short"):
        require_sound(Audio(tone(0.05), 16000, "blip.wav"))
    require_sound(Audio(tone(1.0), 16000))
