"""The face stage: portraits, mouth tracks, and rendered videos whose mouths move with the speech."""
import av
import numpy as np
import pytest

from pipelines import registry
from pipelines.errors import UserInputError
from pipelines.types import Audio, Timing
from avatar.face import detect_face, load_portrait, parse_box, layout_from_mouth
from avatar.visemes import from_audio, from_phonemes

from .conftest import tone

FACES = ["astronaut_eileen_collins.png", "bbaf2n_frame0.png", "lbax4n_frame0.png"]


def test_bilabials_close_the_lips_and_open_vowels_open_them():
    # "mama": m a m a, then silence
    ph = [Timing("m", 0.0, 0.1), Timing("ɑ", 0.1, 0.3), Timing("m", 0.3, 0.4), Timing("ɑ", 0.4, 0.6)]
    track = from_phonemes(ph, 1.2, fps=100)
    at = lambda t: track.open[int(t * 100)]  # noqa: E731
    assert at(0.35) < 0.15 and at(0.2) > 0.6 and at(0.5) > 0.6
    assert at(1.0) == 0.0  # closed in the silence after speech
    rounded = from_phonemes([Timing("u", 0.0, 0.3)], 0.4, fps=100)
    assert rounded.spread[15] < -0.5


def test_audio_only_track_follows_loudness_and_closes_in_silence():
    sr = 16000
    x = np.concatenate([tone(0.5, sr, 200, 0.5), np.zeros(sr // 2, np.float32), tone(0.5, sr, 200, 0.05)])
    track = from_audio(Audio(x, sr), fps=25)
    assert track.open[5] > 0.8 and track.open[18] == 0.0 and 0 < track.open[32] < track.open[5]


@pytest.mark.parametrize("name", FACES)
def test_faces_and_mouths_are_found_on_real_portraits(shared, name):
    image = load_portrait(shared / "faces" / name)
    layout = detect_face(image)
    f, m = layout.face, layout.mouth
    assert f.x < m.cx < f.x + f.w and f.y + 0.6 * f.h < m.cy < f.y + f.h
    assert len(layout.eyes) == 2 and all(e.cy < m.cy for e in layout.eyes)


def test_bad_images_give_clear_errors(tmp_path):
    import cv2

    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    cv2.imwrite(str(tmp_path / "tiny.png"), np.zeros((20, 20, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "wall.png"), np.full((300, 300, 3), 128, np.uint8))
    for name, message in [("empty.png", "empty"), ("text.png", "not an image"), ("tiny.png", "too small"),
                          ("missing.png", "not found")]:
        with pytest.raises(UserInputError, match=f"{name}: .*{message}"):
            load_portrait(tmp_path / name)
    with pytest.raises(UserInputError, match="wall.png: no frontal face found.*--mouth"):
        detect_face(load_portrait(tmp_path / "wall.png"), str(tmp_path / "wall.png"))
    with pytest.raises(UserInputError, match="outside"):
        layout_from_mouth(parse_box("290,290,50,20"), (300, 300, 3))


def test_large_portraits_are_scaled_to_1080p_with_even_sides(tmp_path):
    import cv2

    cv2.imwrite(str(tmp_path / "big.jpg"), np.zeros((2161, 3001, 3), np.uint8))
    h, w = load_portrait(tmp_path / "big.jpg").shape[:2]
    assert h <= 1080 and w <= 1920 and h % 2 == 0 and w % 2 == 0


def _decode(path):
    with av.open(str(path)) as c:
        streams = {s.type: s for s in c.streams}
        assert set(streams) == {"video", "audio"}
        assert streams["video"].codec_context.name == "h264" and streams["audio"].codec_context.name == "aac"
        frames = [f.to_ndarray(format="bgr24") for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in c.decode(audio=0)])
        rate = c.streams.audio[0].rate
    return np.stack(frames), audio, rate


def _mouth_opening(frames, portrait, layout):
    """How open the mouth looks: the share of the lips' region (found by FaceMesh on the portrait) that is
    cavity-dark or teeth-bright rather than lip or skin; a measure that a little head motion hardly disturbs."""
    from avatar.landmarks import find_landmarks
    from avatar.quality import MouthInterior

    inside = MouthInterior(portrait, find_landmarks(portrait, layout.face))
    return np.array([inside.share(f) for f in frames]), inside.share(portrait)


def _envelope(audio: Audio, fps: float, n: int):
    """Loudness per frame in dB (floored at -50 dB below the peak): how loud each frame sounds."""
    hop = audio.sample_rate / fps
    rms = np.array([np.sqrt(np.mean(audio.samples[int(i * hop):int((i + 1) * hop)] ** 2) + 1e-12)
                    for i in range(n)])
    return np.maximum(20 * np.log10(rms / rms.max()), -50.0)


@pytest.fixture(scope="module")
def speech():
    text = "Hello there, my friend. I am a digital human.\n\nI can talk about anything you like!"
    return registry.build("tts", "vits").synthesize(text)


@pytest.mark.slow
@pytest.mark.parametrize("name", FACES)
def test_rendered_mouth_moves_with_the_speech(shared, tmp_path, speech, name):
    out = tmp_path / "talk.mp4"
    video = registry.build("lipsync", "warp").render(shared / "faces" / name, speech, out)
    frames, audio, rate = _decode(out)
    # the video lasts as long as the speech, to within one frame
    assert abs(len(frames) / 25 - speech.audio.duration) <= 1 / 25 + 1e-6
    assert abs(len(audio) / rate - speech.audio.duration) < 0.05 and video.duration == len(frames) / 25
    portrait = load_portrait(shared / "faces" / name)
    layout = detect_face(portrait)
    opening, at_rest = _mouth_opening(frames, portrait, layout)
    loud = _envelope(speech.audio, 25, len(frames))
    # correlated with loudness, best within a frame of zero lag (in sync)
    corr = {lag: np.corrcoef(opening[max(lag, 0): len(opening) + min(lag, 0)],
                             loud[max(-lag, 0): len(loud) + min(-lag, 0)])[0, 1] for lag in range(-4, 5)}
    assert corr[0] > 0.5, corr
    assert max(corr, key=corr.get) in (-1, 0, 1), corr
    # closed in silences (the paragraph pause, before the first word): frames well inside a quiet stretch
    quiet = np.convolve(loud < -45, np.ones(5), "same") == 5
    assert quiet.sum() >= 3
    wide = np.percentile(opening, 95)
    assert np.median(opening[quiet]) <= at_rest + 0.15 * (wide - at_rest), (opening[quiet], at_rest, wide)
    # only the face changes: background pixels hold still over time, the mouth does not
    motion = frames.astype(np.float32).std(axis=0).mean(axis=2)
    f = layout.face
    background = np.ones(motion.shape, bool)
    background[int(max(f.y - 0.8 * f.h, 0)):int(f.y + 1.7 * f.h), int(max(f.x - 0.6 * f.w, 0)):int(f.x + 1.6 * f.w)] = False
    m = layout.mouth
    mouth = motion[int(m.y):int(m.y + m.h * 1.5), int(m.x):int(m.x + m.w)]
    assert motion[background].mean() < 0.6 and mouth.mean() > 5 * max(motion[background].mean(), 0.3)


@pytest.mark.slow
def test_plain_audio_is_lip_synced_from_the_sound(shared, tmp_path):
    out = tmp_path / "jfk.mp4"
    registry.build("lipsync", "warp").render(shared / "faces/bbaf2n_frame0.png", shared / "asr/en/jfk.flac", out)
    frames, _, _ = _decode(out)
    from pipelines.audio import load_audio

    audio = load_audio(shared / "asr/en/jfk.flac", 22050)
    assert abs(len(frames) / 25 - audio.duration) <= 1 / 25
    portrait = load_portrait(shared / "faces/bbaf2n_frame0.png")
    opening, _ = _mouth_opening(frames, portrait, detect_face(portrait))
    assert np.corrcoef(opening, _envelope(audio, 25, len(frames)))[0, 1] > 0.5


@pytest.mark.slow
def test_cli_render_with_captions_srt_and_a_manual_mouth(shared, tmp_path, capsys):
    import srt

    from pipelines.apps.cli import main

    out = tmp_path / "v.mp4"
    face = shared / "faces/lbax4n_frame0.png"
    assert main(["render", "--face", str(face), "--text", "Good morning. Nice to see you.", "--out", str(out),
                 "--captions", "--srt"]) == 0
    subs = list(srt.parse(out.with_suffix(".srt").read_text()))
    assert [s.content for s in subs] == ["Good morning.", "Nice to see you."]
    frames, _, _ = _decode(out)
    portrait = load_portrait(face)
    band = slice(int(portrait.shape[0] * 0.9), None)
    assert np.abs(frames[10][band].astype(int) - portrait[band].astype(int)).mean() > 20  # captions burnt in
    # no face in a flat image: a hand-given mouth box still renders
    import cv2

    cv2.imwrite(str(tmp_path / "wall.png"), np.full((240, 320, 3), 150, np.uint8))
    assert main(["render", "--face", str(tmp_path / "wall.png"), "--audio", str(shared / "asr/en/251-118436-0001.wav"),
                 "--mouth", "130,150,60,20", "--out", str(tmp_path / "wall.mp4")]) == 0
    assert main(["render", "--face", str(tmp_path / "wall.png"), "--text", "hi", "--out", str(tmp_path / "x.mp4")]) == 2
    assert "--mouth" in capsys.readouterr().err


@pytest.fixture(scope="module")
def random_wav2lip(tmp_path_factory):
    """A Wav2Lip with random weights, saved exactly as the public checkpoints are (DataParallel keys)."""
    import torch

    from avatar.wav2lip import build_model

    torch.manual_seed(0)
    model = build_model()
    path = tmp_path_factory.mktemp("w2l") / "wav2lip_random.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}, "global_step": 0}, path)
    return path


def test_wav2lip_mel_features_follow_the_original_contract():
    from avatar.wav2lip import mel_chunks, melspectrogram

    mel = melspectrogram(tone(2.0, 16000, 440, 0.5))
    assert mel.shape[0] == 80 and abs(mel.shape[1] - 161) <= 1  # 80 frames per second
    assert mel.min() >= -4 and mel.max() <= 4
    chunks = mel_chunks(mel, 25, 50)
    assert chunks.shape == (50, 80, 16)


@pytest.mark.slow
def test_wav2lip_engine_loads_a_public_layout_checkpoint_and_renders(shared, tmp_path, random_wav2lip):
    engine = registry.build("lipsync", "wav2lip", checkpoint=str(random_wav2lip), batch_size=16)
    out = tmp_path / "w2l.mp4"
    speech = shared / "asr/en/251-118436-0001.wav"
    video = engine.render(shared / "faces/lbax4n_frame0.png", speech, out)
    frames, audio, rate = _decode(out)
    assert len(frames) == round(video.duration * 25) and abs(len(audio) / rate - video.duration) < 0.06
    portrait = load_portrait(shared / "faces/lbax4n_frame0.png")
    f = detect_face(portrait).face
    change = np.abs(frames.astype(np.float32) - portrait.astype(np.float32)).mean(axis=(0, 3))
    inside = change[int(f.y + 0.6 * f.h):int(f.y + f.h), int(f.x):int(f.x + f.w)].mean()
    outside = np.concatenate([change[:, : int(f.x - 0.1 * f.w)].ravel(), change[:, int(f.x + 1.15 * f.w):].ravel()])
    assert inside > 10 and outside.mean() < 2  # the model paints the lower face, nothing else


def test_wav2lip_refuses_missing_and_foreign_checkpoints(tmp_path):
    import torch

    from pipelines.errors import ModelFilesError

    with pytest.raises(UserInputError, match="needs your checkpoint"):
        registry.build("lipsync", "wav2lip")
    with pytest.raises(UserInputError, match="not found"):
        registry.build("lipsync", "wav2lip", checkpoint=str(tmp_path / "none.pth")).model
    torch.save({"state_dict": {"module.encoder.weight": torch.zeros(3)}}, tmp_path / "other.pth")
    with pytest.raises(ModelFilesError, match="not a Wav2Lip"):
        registry.build("lipsync", "wav2lip", checkpoint=str(tmp_path / "other.pth")).model
    (tmp_path / "junk.pth").write_text("junk")
    with pytest.raises(ModelFilesError, match="not a loadable"):
        registry.build("lipsync", "wav2lip", checkpoint=str(tmp_path / "junk.pth")).model


# --- dense landmarks, the landmark renderer, blinks, the video avatar --------------------------------------

def _landmarks(shared, name):
    from avatar.landmarks import find_landmarks

    image = load_portrait(shared / "faces" / name)
    return image, detect_face(image), find_landmarks(image, detect_face(image).face)


@pytest.mark.parametrize("name", FACES)
def test_facemesh_finds_lips_eyes_and_jaw_on_real_portraits(shared, name):
    from avatar import landmarks as L

    image, layout, pts = _landmarks(shared, name)
    assert pts is not None and pts.shape == (468, 3)
    f, m = layout.face, layout.mouth
    lips = pts[[13, 14], :2].mean(0)
    # the lips sit where the Haar search put the mouth, the eyes above them, the chin below
    assert abs(lips[0] - m.cx) < 0.1 * f.w and abs(lips[1] - m.cy) < 0.1 * f.h
    assert pts[159, 1] < lips[1] and pts[386, 1] < lips[1] and pts[L.CHIN, 1] > lips[1] + 0.1 * f.h
    assert pts[33, 0] < pts[133, 0] < pts[362, 0] < pts[263, 0]       # both eyes, corners in order
    assert 0.2 < L.eye_opening(pts) < 0.5                               # open eyes on every portrait


def test_blinks_are_natural_and_avoid_stress_peaks():
    from avatar.eyes import blink_curve

    fps, n = 25, 25 * 60
    t = np.arange(n) / fps
    opening = np.clip(np.sin(2 * np.pi * 2.3 * t), 0, 1)      # syllables: a peak every ~0.43 s
    curve = blink_curve(n, fps, seed=3, opening=opening)
    starts = np.flatnonzero((curve[1:] > 0) & (curve[:-1] == 0)) + 1
    assert 10 <= len(starts) <= 30                              # 10-30 blinks a minute
    closed = np.flatnonzero(curve > 0)
    lengths = np.diff(np.r_[0, np.flatnonzero(np.diff(closed) > 1) + 1, len(closed)])
    assert 0.2 <= lengths.mean() / fps <= 0.35                  # ~0.25 s each
    peaks = np.flatnonzero((opening[1:-1] >= opening[:-2]) & (opening[1:-1] >= opening[2:]) & (opening[1:-1] > 0.9)) + 1
    assert not (curve[peaks] > 0).any()


@pytest.fixture(scope="module")
def bilabial_speech():
    return registry.build("tts", "vits").synthesize("Bob bought a map for my puppy. Maybe Mom paid me back.")


def _frames_of(renderer, track, blinks):
    from avatar.warp import Pose

    return [renderer.render(Pose(float(track.open[i]), float(track.spread[i]), float(blinks[i]))) for i in range(len(track))]


@pytest.mark.slow
@pytest.mark.parametrize("name", FACES)
def test_lips_close_on_bilabials_eyelids_cover_the_eyes_and_nothing_is_flat_or_hard(shared, bilabial_speech, name):
    from avatar.eyes import blink_curve
    from avatar.landmark_renderer import LandmarkRenderer
    from avatar.quality import ArtefactMeter, EyeInterior, MouthInterior
    from avatar.render import make_renderer, mouth_track

    image, layout, pts = _landmarks(shared, name)
    renderer = make_renderer(image, layout)
    assert isinstance(renderer, LandmarkRenderer)        # the default warp engine uses the landmarks
    track = mouth_track(bilabial_speech, 25)
    blinks = blink_curve(len(track), 25, 0, track.open)
    assert (blinks > 0.9).any()
    frames = _frames_of(renderer, track, blinks)
    # lips: on p/b/m the inside of the mouth all but vanishes; on open vowels it shows
    inside = MouthInterior(image, pts)
    shown = np.array([inside.share(f) for f in frames])
    bilabial = [int((p.start + p.end) / 2 * 25) for p in bilabial_speech.phonemes if p.label in "pbm"]
    vowels = np.flatnonzero(track.open > 0.5)
    assert len(bilabial) >= 8 and len(vowels) >= 5
    assert np.median(shown[bilabial]) <= min(0.3 * np.median(shown[vowels]), 0.1), (shown[bilabial], shown[vowels])
    # eyes: at the peak of a blink the lids cover most of what showed of the eyes
    eyes = EyeInterior(image, pts)
    closed = [eyes.share(f) for f, b in zip(frames, blinks) if b > 0.9]
    assert max(closed) <= 0.5 * eyes.share(image), (closed, eyes.share(image))
    # no flat-colour patch and no edge harder than the portrait's own, during speech and blinks
    meter = ArtefactMeter(image, pts)
    assert max(meter.flat(f) for f in frames) < 0.015
    assert max(meter.hard(f) for f in frames) < 0.0025


@pytest.mark.slow
def test_the_old_haar_renderer_fails_the_same_artefact_check(shared, bilabial_speech):
    """The measures can fail: the Haar-box renderer's pasted oval is flat and hard-edged."""
    from avatar.quality import ArtefactMeter
    from avatar.render import make_renderer, mouth_track

    image, layout, pts = _landmarks(shared, "lbax4n_frame0.png")
    track = mouth_track(bilabial_speech, 25)
    frames = _frames_of(make_renderer(image, layout, "haar"), track, np.zeros(len(track)))
    meter = ArtefactMeter(image, pts)
    assert max(meter.flat(f) for f in frames) >= 0.015 or max(meter.hard(f) for f in frames) >= 0.0025


@pytest.mark.slow
def test_a_video_avatar_loops_keeps_its_own_face_and_reanimates_only_the_mouth(shared, tmp_path, speech):
    from avatar.landmarks import FaceMesh, box_of, find_landmarks
    from avatar.quality import MouthInterior
    from avatar.video_avatar import load_clip, pingpong

    clip = shared / "video" / "bbaf2n.mp4"
    out = tmp_path / "avatar.mp4"
    video = registry.build("lipsync", "warp").render(clip, speech, out)
    frames, audio, rate = _decode(out)
    source, fps = load_clip(clip)
    assert video.fps == fps == 25 and video.size == (source[0].shape[1], source[0].shape[0])
    # as long as the speech, to a frame, though the clip is shorter: it loops back and forth
    assert abs(len(frames) / fps - speech.audio.duration) <= 1 / fps + 1e-6 and len(frames) > len(source)
    assert abs(len(audio) / rate - speech.audio.duration) < 0.05
    # every frame is the clip's frame (forwards, then backwards) outside the mouth and jaw
    pts = FaceMesh.shared().refine(source[0], detect_face(source[0]).face)[0]
    lips = pts[[61, 291, 13, 14, 152], :2]
    fw = np.ptp(pts[:, 0])
    y0, y1 = int(pts[6, 1]), int(pts[152, 1] + 0.15 * fw)             # nose bridge to below the chin
    x0, x1 = int(lips[:, 0].min() - 0.35 * fw), int(lips[:, 0].max() + 0.35 * fw)
    outside = np.ones(frames.shape[1:3], bool)
    outside[y0:y1, x0:x1] = False
    diffs = np.array([np.abs(frames[i].astype(np.int16) - source[pingpong(i, len(source))])[outside].mean()
                      for i in range(len(frames))])
    assert diffs.max() < 3.0, diffs.max()
    mouth = (slice(int(lips[:, 1].min() - 0.05 * fw), int(lips[:, 1].max() + 0.05 * fw)),
             slice(int(lips[:, 0].min()), int(lips[:, 0].max())))
    changed = [np.abs(frames[i][mouth].astype(np.int16) - source[pingpong(i, len(source))][mouth]).mean()
               for i in range(len(frames))]
    assert np.percentile(changed, 90) > 4 * diffs.mean()
    # the new mouth follows the new speech, not the clip's own words
    inside = MouthInterior(source[0], pts)
    shown = np.array([inside.share(f) for f in frames])
    loud = _envelope(speech.audio, 25, len(frames))
    assert np.corrcoef(shown, loud)[0, 1] > 0.5


# --- presenter mode ----------------------------------------------------------------------------------------

@pytest.mark.slow
def test_dh_present_makes_a_captioned_newscast_with_title_card_lower_third_and_slide(shared, tmp_path):
    import cv2
    import srt

    from pipelines.apps.cli import main

    slide = np.zeros((300, 400, 3), np.uint8)
    slide[:, :200], slide[:, 200:] = (40, 40, 200), (200, 40, 40)          # BGR: a red half, a blue half
    cv2.imwrite(str(tmp_path / "chart.png"), slide)
    (tmp_path / "news.md").write_text("---\nname: Ada Lovelace\nrole: Evening news\n---\n# Tonight's headlines\n\n"
                                      "Good evening. Here is the news from the lab.\n\n![](chart.png)\n"
                                      "Sales went up by half this week.\n", encoding="utf-8")
    out = tmp_path / "news.mp4"
    assert main(["present", str(tmp_path / "news.md"), "--face", str(shared / "faces/bbaf2n_frame0.png"),
                 "--out", str(out), "--srt", "--size", "640x360"]) == 0
    frames, audio, rate = _decode(out)
    assert frames.shape[1:3] == (360, 640)
    assert abs(len(audio) / rate - len(frames) / 25) < 0.1
    title = 3.0
    # the title card: silent, no presenter (none of the portrait's cyan backdrop), white letters in the middle
    assert np.sqrt(np.mean(audio[: int(2.5 * rate)] ** 2)) < 1e-3
    card = frames[25]
    backdrop = lambda f: ((f[..., 0] > 150) & (f[..., 1] > 120) & (f[..., 2] < 120)).mean()  # noqa: E731
    assert backdrop(card) < 0.01
    assert (card[120:220].min(axis=2) > 200).sum() > 300
    # the words, heard back by the real ASR, are the script's
    from pipelines.audio import load_audio
    from pipelines.text import word_error_rate

    heard = registry.build("asr", "faster-whisper").transcribe(load_audio(out, 16000)).text
    assert word_error_rate("Good evening. Here is the news from the lab. Sales went up by half this week.", heard) < 0.2
    # subtitles timed to the video (after the title card), and burnt in while each is spoken
    subs = list(srt.parse(out.with_suffix(".srt").read_text()))
    assert [s.content for s in subs] == ["Good evening.", "Here is the news from the lab.", "Sales went up by half this week."]
    assert subs[0].start.total_seconds() >= title
    for s in subs:
        mid = int((s.start.total_seconds() + s.end.total_seconds()) / 2 * 25)
        assert (frames[mid][300:360].min(axis=2) > 200).sum() > 100        # white caption letters
    assert (card[300:360].min(axis=2) > 200).sum() < 20
    # the presenter fills the first paragraph; the lower third (its accent bar) shows at first
    first = frames[int((title + 1.0) * 25)]
    assert backdrop(first) > 0.2
    bar = first[int(0.7 * 360):int(0.76 * 360), :3].reshape(-1, 3).mean(0)
    assert bar[2] > 200 and bar[0] < 90                                   # orange, in BGR
    # the slide beside the presenter while the second paragraph is spoken
    during = frames[int((subs[2].start.total_seconds() + 0.5) * 25)]
    h, w = int(0.68 * 360), int(0.6 * 640)
    x0, y0 = int(0.04 * 640), int(0.08 * 360)
    red, blue = during[y0 + 20:y0 + 60, x0 + 20:x0 + 60].mean((0, 1)), during[y0 + 20:y0 + 60, x0 + int(0.9 * w) - 40:x0 + int(0.9 * w)].mean((0, 1))
    assert red[2] > 150 and red[0] < 90 and blue[0] > 150 and blue[2] < 90
    # a script with nothing to say is refused by name
    (tmp_path / "empty.md").write_text("# Only a title\n", encoding="utf-8")
    assert main(["present", str(tmp_path / "empty.md"), "--face", str(shared / "faces/bbaf2n_frame0.png"),
                 "--out", str(tmp_path / "e.mp4")]) != 0
