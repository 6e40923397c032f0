"""Wav2Lip for users who bring their own checkpoint (its weights are non-commercial and not shipped).

Our own model code with the public checkpoint's layout (`state_dict`, keys prefixed `module.`), the
original 96x96 face / 16-frame mel contract, and the original mel features (16 kHz, hop 200, 80 bands,
55-7600 Hz, pre-emphasis 0.97, symmetric [-4, 4] normalisation). Frames stream to the encoder in batches.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.audio import resample
from pipelines.devices import torch_device
from pipelines.errors import ModelFilesError, UserInputError
from pipelines.stages import Progress, no_progress
from pipelines.types import Video

from .render import portrait_and_speech
from .video import VideoWriter

FACE_SIZE, MEL_STEP = 96, 16


def build_model():
    import torch
    from torch import nn

    class Conv2d(nn.Module):
        def __init__(self, cin, cout, kernel_size, stride, padding, residual=False):
            super().__init__()
            self.conv_block = nn.Sequential(nn.Conv2d(cin, cout, kernel_size, stride, padding), nn.BatchNorm2d(cout))
            self.act, self.residual = nn.ReLU(), residual

        def forward(self, x):
            out = self.conv_block(x)
            return self.act(out + x if self.residual else out)

    class Conv2dTranspose(nn.Module):
        def __init__(self, cin, cout, kernel_size, stride, padding, output_padding=0):
            super().__init__()
            self.conv_block = nn.Sequential(nn.ConvTranspose2d(cin, cout, kernel_size, stride, padding, output_padding),
                                            nn.BatchNorm2d(cout))
            self.act = nn.ReLU()

        def forward(self, x):
            return self.act(self.conv_block(x))

    def res(c, n):
        return [Conv2d(c, c, 3, 1, 1, residual=True) for _ in range(n)]

    class Wav2Lip(nn.Module):
        def __init__(self):
            super().__init__()
            self.face_encoder_blocks = nn.ModuleList([
                nn.Sequential(Conv2d(6, 16, 7, 1, 3)),                      # 96
                nn.Sequential(Conv2d(16, 32, 3, 2, 1), *res(32, 2)),         # 48
                nn.Sequential(Conv2d(32, 64, 3, 2, 1), *res(64, 3)),         # 24
                nn.Sequential(Conv2d(64, 128, 3, 2, 1), *res(128, 2)),       # 12
                nn.Sequential(Conv2d(128, 256, 3, 2, 1), *res(256, 2)),      # 6
                nn.Sequential(Conv2d(256, 512, 3, 2, 1), *res(512, 1)),      # 3
                nn.Sequential(Conv2d(512, 512, 3, 1, 0), Conv2d(512, 512, 1, 1, 0)),  # 1
            ])
            self.audio_encoder = nn.Sequential(
                Conv2d(1, 32, 3, 1, 1), *res(32, 2),
                Conv2d(32, 64, 3, (3, 1), 1), *res(64, 2),
                Conv2d(64, 128, 3, 3, 1), *res(128, 2),
                Conv2d(128, 256, 3, (3, 2), 1), *res(256, 1),
                Conv2d(256, 512, 3, 1, 0), Conv2d(512, 512, 1, 1, 0))
            self.face_decoder_blocks = nn.ModuleList([
                nn.Sequential(Conv2d(512, 512, 1, 1, 0)),
                nn.Sequential(Conv2dTranspose(1024, 512, 3, 1, 0), *res(512, 1)),
                nn.Sequential(Conv2dTranspose(1024, 512, 3, 2, 1, 1), *res(512, 2)),
                nn.Sequential(Conv2dTranspose(768, 384, 3, 2, 1, 1), *res(384, 2)),
                nn.Sequential(Conv2dTranspose(512, 256, 3, 2, 1, 1), *res(256, 2)),
                nn.Sequential(Conv2dTranspose(320, 128, 3, 2, 1, 1), *res(128, 2)),
                nn.Sequential(Conv2dTranspose(160, 64, 3, 2, 1, 1), *res(64, 2)),
            ])
            self.output_block = nn.Sequential(Conv2d(80, 32, 3, 1, 1), nn.Conv2d(32, 3, 1, 1, 0), nn.Sigmoid())

        def forward(self, mels, faces):
            """mels (B, 1, 80, 16), faces (B, 6, 96, 96) in [0, 1], BGR -> (B, 3, 96, 96)."""
            x = self.audio_encoder(mels)
            feats = []
            for block in self.face_encoder_blocks:
                faces = block(faces)
                feats.append(faces)
            for block in self.face_decoder_blocks:
                x = torch.cat((block(x), feats.pop()), dim=1)
            return self.output_block(x)

    return Wav2Lip()


def load_checkpoint(path: str | Path, device: str = "cpu"):
    import torch

    path = Path(path).expanduser()
    if not path.is_file():
        raise UserInputError("Wav2Lip checkpoint not found (download wav2lip.pth or wav2lip_gan.pth yourself)",
                             path=path)
    try:
        checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle, zip or torch errors all mean the same to the user
        raise ModelFilesError(f"{path}: not a loadable PyTorch checkpoint ({type(exc).__name__})") from None
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ModelFilesError(f"{path}: holds no state_dict")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = build_model()
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ModelFilesError(f"{path}: not a Wav2Lip (96x96) checkpoint: {len(missing)} missing and "
                              f"{len(unexpected)} unexpected tensors, e.g. {(missing or unexpected)[0]}")
    return model.to(device).eval()


def melspectrogram(samples_16k: np.ndarray) -> np.ndarray:
    """(80, T) at 80 frames/s, exactly as Wav2Lip was trained."""
    import librosa

    y = np.append(samples_16k[0], samples_16k[1:] - 0.97 * samples_16k[:-1])
    spec = np.abs(librosa.stft(y=y, n_fft=800, hop_length=200, win_length=800))
    mel = librosa.filters.mel(sr=16000, n_fft=800, n_mels=80, fmin=55, fmax=7600) @ spec
    db = 20 * np.log10(np.maximum(1e-5, mel)) - 20
    return np.clip(8 * ((db + 100) / 100) - 4, -4, 4).astype(np.float32)


def mel_chunks(mel: np.ndarray, fps: float, n_frames: int) -> np.ndarray:
    step = 80.0 / fps
    out = []
    for i in range(n_frames):
        start = min(int(i * step), max(mel.shape[1] - MEL_STEP, 0))
        chunk = mel[:, start:start + MEL_STEP]
        if chunk.shape[1] < MEL_STEP:
            chunk = np.pad(chunk, ((0, 0), (0, MEL_STEP - chunk.shape[1])), constant_values=-4)
        out.append(chunk)
    return np.stack(out)


class Wav2LipLipSync:
    @dataclass(frozen=True)
    class Config:
        checkpoint: str = ""      # path to wav2lip.pth / wav2lip_gan.pth (required)
        fps: float = 25.0
        batch_size: int = 32
        device: str = "auto"
        mouth: str = ""           # "x,y,w,h" when no face is detected

    def __init__(self, config: Config | None = None):
        self.config = config or self.Config()
        if not self.config.checkpoint:
            raise UserInputError("the wav2lip engine needs your checkpoint: set lipsync.wav2lip.checkpoint "
                                 "(Wav2Lip's weights are non-commercial and not bundled)")
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self._model = load_checkpoint(self.config.checkpoint, torch_device(self.config.device))
        return self._model

    def render(self, face, speech, out, *, progress: Progress = no_progress) -> Video:
        import cv2
        import torch

        c = self.config
        portrait, layout, speech = portrait_and_speech(face, speech, c.mouth)
        audio = speech.audio
        n = max(1, int(np.ceil(audio.duration * c.fps - 1e-6)))
        mels = mel_chunks(melspectrogram(resample(audio, 16000).samples), c.fps, n)
        f = layout.face  # Wav2Lip was trained on face boxes that include the chin
        H, W = portrait.shape[:2]
        y1, y2 = int(max(0, f.y - 0.05 * f.h)), int(min(H, f.y + 1.25 * f.h + 10))
        x1, x2 = int(max(0, f.x - 0.05 * f.w)), int(min(W, f.x + 1.05 * f.w))
        crop = cv2.resize(portrait[y1:y2, x1:x2], (FACE_SIZE, FACE_SIZE))
        masked = crop.copy()
        masked[FACE_SIZE // 2:] = 0
        face_input = np.concatenate([masked, crop], axis=2).transpose(2, 0, 1)[None] / 255.0
        blend = np.zeros((y2 - y1, x2 - x1, 1), np.float32)  # feathered lower half: no seam at the crop edge
        blend[int((y2 - y1) * 0.45):] = 1
        blend = cv2.GaussianBlur(blend, (0, 0), max(2.0, (x2 - x1) / 30))[..., None]
        model = self.model
        device = next(model.parameters()).device
        with VideoWriter(out, W, H, c.fps, audio) as writer, torch.inference_mode():
            for start in range(0, n, c.batch_size):
                batch = mels[start:start + c.batch_size]
                faces = torch.tensor(np.repeat(face_input, len(batch), 0), dtype=torch.float32, device=device)
                mel = torch.tensor(batch[:, None], dtype=torch.float32, device=device)
                pred = (model(mel, faces).cpu().numpy().transpose(0, 2, 3, 1) * 255).astype(np.float32)
                for p in pred:
                    frame = portrait.copy()
                    mouth = cv2.resize(p, (x2 - x1, y2 - y1))
                    region = frame[y1:y2, x1:x2].astype(np.float32)
                    frame[y1:y2, x1:x2] = (blend * mouth + (1 - blend) * region).clip(0, 255).astype(np.uint8)
                    writer.write(frame)
                progress(min(start + c.batch_size, n) / n, f"rendered {min(start + c.batch_size, n)} of {n} frames")
        return Video(Path(out), n / c.fps, c.fps, (W, H))
