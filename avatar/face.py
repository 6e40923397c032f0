"""Load a portrait and find where its face, eyes and mouth are, with OpenCV's bundled Haar cascades
(no downloaded weights). When no face is found, the error says how to give the mouth box by hand."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipelines.errors import UserInputError

MIN_SIDE = 64
MAX_W, MAX_H = 1920, 1080


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def scaled(self, k: float) -> "Box":
        return Box(self.x * k, self.y * k, self.w * k, self.h * k)


@dataclass(frozen=True)
class FaceLayout:
    face: Box
    mouth: Box                 # the lips; its centre line is where the lips meet
    eyes: tuple[Box, ...]
    detected: bool = True      # False when the mouth box came from the user


def load_portrait(path: str | os.PathLike) -> np.ndarray:
    """BGR uint8, even-sized, at most 1920x1080 (larger portraits are scaled down, keeping the aspect)."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise UserInputError("portrait not found" if not path.exists() else "is not a file", path=path)
    if path.stat().st_size == 0:
        raise UserInputError("portrait file is empty (0 bytes)", path=path)
    data = np.fromfile(str(path), np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if image is None:
        raise UserInputError("not an image OpenCV can read (png, jpg, webp, bmp, tiff…)", path=path)
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise UserInputError(f"image is too small ({w}x{h}); give a portrait of at least {MIN_SIDE}x{MIN_SIDE}",
                             path=path)
    scale = min(1.0, MAX_W / w, MAX_H / h) if w >= h else min(1.0, MAX_H / w, MAX_W / h)
    if scale < 1.0:
        image = cv2.resize(image, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
    h, w = image.shape[:2]
    return np.ascontiguousarray(image[: h - h % 2, : w - w % 2])  # H.264 wants even sides


def _cascade(name: str):
    import cv2

    return cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, name))


def parse_box(text: str) -> Box:
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise UserInputError(f"mouth box must be x,y,width,height in pixels, got '{text}'") from None
    if w <= 0 or h <= 0:
        raise UserInputError(f"mouth box needs a positive width and height, got '{text}'")
    return Box(x, y, w, h)


def layout_from_mouth(mouth: Box, image_shape) -> FaceLayout:
    """A face layout built around a mouth box given by hand."""
    h, w = image_shape[:2]
    if not (0 <= mouth.x and 0 <= mouth.y and mouth.x + mouth.w <= w and mouth.y + mouth.h <= h):
        raise UserInputError(f"mouth box {mouth} lies outside the {w}x{h} image")
    fw = mouth.w / 0.45
    face = Box(mouth.cx - fw / 2, mouth.cy - 0.78 * fw, fw, fw)
    eyes = (Box(face.x + 0.18 * fw, face.y + 0.25 * fw, 0.24 * fw, 0.2 * fw),
            Box(face.x + 0.58 * fw, face.y + 0.25 * fw, 0.24 * fw, 0.2 * fw))
    return FaceLayout(face, mouth, eyes, detected=False)


def detect_face(image: np.ndarray, source: str = "portrait") -> FaceLayout:
    import cv2

    gray = cv2.equalizeHist(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY))
    h, w = gray.shape
    min_side = max(40, min(h, w) // 10)
    faces = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(gray, 1.1, 5, minSize=(min_side, min_side))
    if len(faces) == 0:
        faces = _cascade("haarcascade_frontalface_alt2.xml").detectMultiScale(gray, 1.05, 3, minSize=(min_side, min_side))
    if len(faces) == 0:
        raise UserInputError("no frontal face found; use a well-lit frontal portrait, or give the mouth box "
                             "by hand with --mouth x,y,width,height", path=source)
    x, y, fw, fh = max(faces, key=lambda f: f[2] * f[3])  # the largest face is the subject
    face = Box(float(x), float(y), float(fw), float(fh))
    eyes = []
    top = gray[y: y + int(fh * 0.55), x: x + fw]
    for ex, ey, ew, eh in _cascade("haarcascade_eye.xml").detectMultiScale(top, 1.1, 5, minSize=(fw // 10, fw // 10)):
        eyes.append(Box(float(x + ex), float(y + ey), float(ew), float(eh)))
    eyes = sorted(sorted(eyes, key=lambda e: -e.w * e.h)[:2], key=lambda e: e.x)
    if len(eyes) != 2:
        eyes = [Box(x + 0.18 * fw, y + 0.25 * fh, 0.24 * fw, 0.2 * fh), Box(x + 0.58 * fw, y + 0.25 * fh, 0.24 * fw, 0.2 * fh)]
    # the lips meet on the darkest row of the lower face, near 78 % of the Haar box height
    mw, mh = 0.46 * fw, 0.16 * fh
    guess = y + 0.78 * fh
    lo, hi = int(guess - 0.07 * fh), int(guess + 0.07 * fh)
    cols = slice(int(x + fw / 2 - mw / 3), int(x + fw / 2 + mw / 3))
    rows = gray[max(lo, 0):min(hi, h), cols].astype(np.float32).mean(axis=1)
    line = lo + int(np.argmin(np.convolve(rows, np.ones(3) / 3, mode="same"))) if len(rows) else int(guess)
    # a smiling portrait shows teeth: then the lips' middle is the middle of the teeth, not a dark row
    hsv = cv2.cvtColor(image[max(lo - 4, 0):min(hi + 6, h), cols], cv2.COLOR_BGR2HSV)
    teeth = ((hsv[..., 2] > 150) & (hsv[..., 1] < 80)).mean(axis=1)
    teeth_rows = np.flatnonzero(teeth > 0.3)
    if len(teeth_rows) >= 2:
        line = max(lo - 4, 0) + int(round(teeth_rows.mean()))
    mouth = Box(x + fw / 2 - mw / 2, line - mh / 2, mw, mh)
    return FaceLayout(face, mouth, tuple(eyes))
