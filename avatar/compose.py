"""Broadcast-style composition of a talking-head video: a title card, the presenter over a background or
beside a slide, a lower-third name band and captions. Frames are composed one by one from the talking-head
video and streamed to the encoder (memory stays flat); text layers are drawn once and reused."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from pipelines.errors import UserInputError


@lru_cache(maxsize=8)
def font(size: int, bold: bool = False):
    from PIL import ImageFont

    try:
        import matplotlib

        name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
        return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf" / name), size)
    except (ImportError, OSError):
        return ImageFont.load_default(size)


def text_layer(width: int, height: int, lines: list[tuple[str, int, bool, tuple]], align: str = "center",
               pad: int = 0) -> np.ndarray:
    """RGBA (H, W, 4) float32 in [0, 1] with the lines drawn (text, size, bold, rgb), wrapped to the width."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    wrapped = []
    for text, size, bold, colour in lines:
        f = font(size, bold)
        words, line = text.split(), ""
        for word in words:
            trial = f"{line} {word}".strip()
            if draw.textlength(trial, font=f) > width - 2 * pad and line:
                wrapped.append((line, f, size, colour))
                line = word
            else:
                line = trial
        if line:
            wrapped.append((line, f, size, colour))
    total = sum(int(s * 1.3) for _, _, s, _ in wrapped)
    y = (height - total) / 2 if align == "center" else pad
    for line, f, size, colour in wrapped:
        tw = draw.textlength(line, font=f)
        x = (width - tw) / 2 if align == "center" else pad
        draw.text((x + 2, y + 2), line, font=f, fill=(0, 0, 0, 160))      # a soft drop shadow
        draw.text((x, y), line, font=f, fill=tuple(colour) + (255,))
        y += int(size * 1.3)
    return np.asarray(image, np.float32) / 255.0


def over(canvas: np.ndarray, layer: np.ndarray, x: int, y: int, opacity: float = 1.0) -> None:
    """Alpha-blend an RGBA layer (RGB order) onto a BGR uint8 canvas at (x, y), in place."""
    h, w = layer.shape[:2]
    H, W = canvas.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, W), min(y + h, H)
    if x1 <= x0 or y1 <= y0:
        return
    part = layer[y0 - y:y1 - y, x0 - x:x1 - x]
    a = part[..., 3:4] * opacity
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = (region * (1 - a) + part[..., 2::-1] * 255 * a).astype(np.uint8)


def load_image(path: Path) -> np.ndarray:
    import cv2

    path = Path(path)
    if not path.is_file():
        raise UserInputError("image not found", path=path)
    image = cv2.imdecode(np.fromfile(str(path), np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise UserInputError("not an image OpenCV can read", path=path)
    return image


def cover(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scaled and centre-cropped to fill width x height."""
    import cv2

    h, w = image.shape[:2]
    k = max(width / w, height / h)
    scaled = cv2.resize(image, (max(width, round(w * k)), max(height, round(h * k))), interpolation=cv2.INTER_AREA)
    y, x = (scaled.shape[0] - height) // 2, (scaled.shape[1] - width) // 2
    return np.ascontiguousarray(scaled[y:y + height, x:x + width])


def contain(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scaled to fit inside width x height, keeping its aspect."""
    import cv2

    h, w = image.shape[:2]
    k = min(width / w, height / h)
    return cv2.resize(image, (max(2, round(w * k)), max(2, round(h * k))), interpolation=cv2.INTER_AREA)


def studio_background(width: int, height: int) -> np.ndarray:
    """A calm dark-blue studio gradient with a soft light behind the presenter."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    t = ys / height
    glow = np.exp(-(((xs - 0.5 * width) / (0.45 * width)) ** 2 + ((ys - 0.45 * height) / (0.6 * height)) ** 2))
    base = np.stack([70 - 30 * t, 40 - 18 * t, 22 - 10 * t], -1)          # BGR: deep blue
    return np.clip(base + glow[..., None] * np.array([60, 38, 22]), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Layout:
    width: int = 1280
    height: int = 720
    title_seconds: float = 3.0
    lower_third_seconds: float = 6.0


class Compositor:
    """Composes frames for `present`: the title card, then each talking-head frame placed on the
    background (or beside the slide of its paragraph) with the lower third and captions on top."""

    def __init__(self, layout: Layout, title: str, name: str, role: str, background: np.ndarray | None):
        W, H = layout.width, layout.height
        self.layout = layout
        self.background = cover(background, W, H) if background is not None else studio_background(W, H)
        dim = (self.background.astype(np.float32) * 0.55).astype(np.uint8)
        self.title_card = dim.copy()
        over(self.title_card, text_layer(int(W * 0.84), int(H * 0.5), [(title, H // 12, True, (255, 255, 255))]),
             int(W * 0.08), int(H * 0.16))
        if name:
            sub = [(name, H // 24, False, (230, 230, 230))] + ([(role, H // 32, False, (200, 200, 210))] if role else [])
            over(self.title_card, text_layer(int(W * 0.84), int(H * 0.2), sub), int(W * 0.08), int(H * 0.64))
        self.lower_third = self._lower_third(name, role) if name else None
        self.captions: dict[str, np.ndarray] = {}
        self.slides: dict[Path, np.ndarray] = {}

    def _lower_third(self, name: str, role: str) -> np.ndarray:
        W, H = self.layout.width, self.layout.height
        bw, bh = int(W * 0.42), int(H * 0.13)
        layer = np.zeros((bh, bw, 4), np.float32)
        layer[..., :3] = np.array([0.08, 0.12, 0.22])
        layer[..., 3] = 0.78 * np.clip(np.linspace(1.6, 0, bw) + 0.2, 0, 1)[None, :]
        layer[:, : max(4, W // 160), :3] = np.array([0.95, 0.65, 0.15])     # an accent bar
        layer[:, : max(4, W // 160), 3] = 1.0
        lines = [(name, H // 24, True, (255, 255, 255))] + ([(role, H // 36, False, (215, 220, 235))] if role else [])
        text = text_layer(bw - W // 40, bh, lines, align="left", pad=int(H * 0.02))
        a = text[..., 3:4]
        out = layer.copy()
        out[:, W // 40:, :3] = layer[:, W // 40:, :3] * (1 - a) + text[..., :3] * a
        out[:, W // 40:, 3:4] = np.maximum(layer[:, W // 40:, 3:4], a)
        return out

    def title(self, t: float) -> np.ndarray:
        """The title card; it fades to black over its last 0.4 s."""
        fade = np.clip((self.layout.title_seconds - t) / 0.4, 0, 1)
        return (self.title_card.astype(np.float32) * fade).astype(np.uint8)

    def frame(self, head: np.ndarray, t: float, caption: str = "", slide: Path | None = None) -> np.ndarray:
        """One frame of the main part; `t` counts from the end of the title card."""
        W, H = self.layout.width, self.layout.height
        canvas = self.background.copy()
        if slide is not None:
            if slide not in self.slides:
                self.slides[slide] = contain(load_image(slide), int(W * 0.6), int(H * 0.68))
            image = self.slides[slide]
            sx, sy = int(W * 0.04), int(H * 0.08)
            canvas[sy - 3:sy + image.shape[0] + 3, sx - 3:sx + image.shape[1] + 3] = 235
            canvas[sy:sy + image.shape[0], sx:sx + image.shape[1]] = image
            person = contain(head, int(W * 0.3), int(H * 0.62))
            px, py = int(W * 0.67), int(H * 0.12)
        else:
            person = contain(head, W, H)
            px, py = (W - person.shape[1]) // 2, H - person.shape[0]
        canvas[py:py + person.shape[0], px:px + person.shape[1]] = person
        if self.lower_third is not None and t < self.layout.lower_third_seconds:
            fade = min(np.clip(t / 0.3, 0, 1), np.clip((self.layout.lower_third_seconds - t) / 0.3, 0, 1))
            over(canvas, self.lower_third, 0, int(H * 0.66), float(fade))
        if caption:
            if caption not in self.captions:
                self.captions[caption] = self._caption(caption)
            layer = self.captions[caption]
            over(canvas, layer, (W - layer.shape[1]) // 2, H - layer.shape[0] - int(H * 0.03))
        return canvas

    def _caption(self, text: str) -> np.ndarray:
        W, H = self.layout.width, self.layout.height
        size = H // 24
        layer = text_layer(int(W * 0.8), int(size * 1.9), [(text, size, False, (255, 255, 255))])
        box = np.zeros_like(layer)
        box[..., 3] = 0.55
        a = layer[..., 3:4]
        out = box.copy()
        out[..., :3] = layer[..., :3] * a
        out[..., 3:4] = np.maximum(box[..., 3:4], a)
        return out
