"""Measures of a rendered face, shared by the tests and the benchmark: how open the mouth and eyes look to
FaceMesh run afresh on the frame, and artefacts inside the face (flat-colour patches and edges harder than
any in the portrait itself)."""
from __future__ import annotations

import numpy as np

from . import landmarks as L


def face_mask(image: np.ndarray, points: np.ndarray, shrink: float = 0.08) -> np.ndarray:
    """Inside the face oval, kept clear of its border (hair, background) by `shrink` of the face width."""
    import cv2

    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(points[L.FACE_OVAL, :2]).astype(np.int32)], 1)
    k = max(3, int(shrink * np.ptp(points[L.FACE_OVAL, 0])) | 1)
    return cv2.erode(mask, np.ones((k, k), np.uint8)).astype(bool)


def _gray(image):
    import cv2

    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)


def local_std(image: np.ndarray, size: int = 5) -> np.ndarray:
    import cv2

    g = _gray(image)
    mean = cv2.blur(g, (size, size))
    return np.sqrt(np.maximum(cv2.blur(g * g, (size, size)) - mean * mean, 0))


def gradient(image: np.ndarray) -> np.ndarray:
    import cv2

    g = _gray(image)
    return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))


class ArtefactMeter:
    """Compares frames with their portrait inside the face. `flat`: the largest patch of one flat colour
    (5x5 std < 1 grey level) that the portrait does not have there, as a share of the mouth's area (width
    squared); `hard`: the share of the face whose edges are sharper than the portrait's own sharpest (its
    99.8th percentile of gradient, x1.25)."""

    def __init__(self, portrait: np.ndarray, points: np.ndarray):
        import cv2

        self.mask = face_mask(portrait, points)
        flat0 = (local_std(portrait) < 1.0).astype(np.uint8)
        self.flat0 = cv2.dilate(flat0, np.ones((5, 5), np.uint8)).astype(bool)
        self.edge = 1.25 * np.percentile(gradient(portrait)[self.mask], 99.8)
        self.mouth_area = float(np.linalg.norm(points[291, :2] - points[61, :2]) ** 2)

    def flat(self, frame: np.ndarray) -> float:
        import cv2

        new = ((local_std(frame) < 1.0) & self.mask & ~self.flat0).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(new, connectivity=8)
        largest = stats[1:, cv2.CC_STAT_AREA].max() if n > 1 else 0
        return float(largest / self.mouth_area)

    def hard(self, frame: np.ndarray) -> float:
        return float((gradient(frame)[self.mask] > self.edge).mean())


def measured_openings(frames, box_points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mouth and eye opening of each frame, as FaceMesh sees it (tracked from `box_points`)."""
    mesh = L.FaceMesh.shared()
    pts = box_points
    mouth, eyes = [], []
    for frame in frames:
        pts, _ = mesh.run(frame, L.box_of(pts))
        mouth.append(L.mouth_opening(pts))
        eyes.append(L.eye_opening(pts))
    return np.array(mouth), np.array(eyes)


class MouthInterior:
    """How much of the mouth's inside shows: the share of the lips' region (inside the portrait's outer lip
    contour, its middle 60 %) that is neither lip nor skin: dark like a cavity, or brighter and greyer than the skin like teeth.
    Closed lips show almost none; an open vowel shows plenty. A measure on the pixels alone, blind to how
    they were made."""

    def __init__(self, portrait: np.ndarray, points: np.ndarray):
        import cv2

        outer = np.concatenate([points[L.LIPS_OUTER_UPPER, :2], points[L.LIPS_OUTER_LOWER, :2][::-1]])
        mask = np.zeros(portrait.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(outer).astype(np.int32)], 1)
        # the middle 60 % of the mouth's width: the corners of a smile stay dark with the lips closed
        left, right = points[61, 0], points[291, 0]
        cols = np.arange(mask.shape[1])
        middle = np.abs(cols - (left + right) / 2) <= 0.3 * (right - left)
        self.mask = mask.astype(bool) & middle[None, :]
        inner = np.concatenate([points[L.LIPS_INNER_UPPER, :2], points[L.LIPS_INNER_LOWER, :2][::-1]])
        lips = mask.copy()
        cv2.fillPoly(lips, [np.round(inner).astype(np.int32)], 0)
        lab = cv2.cvtColor(portrait, cv2.COLOR_BGR2LAB).astype(np.float32)
        self.lip_l = float(np.median(lab[..., 0][lips.astype(bool)]))
        skin = face_mask(portrait, points, 0.15) & ~cv2.dilate(mask, np.ones((9, 9), np.uint8)).astype(bool)
        self.skin_l = float(np.median(lab[..., 0][skin]))
        self.skin_chroma = float(np.median(np.hypot(lab[..., 1][skin] - 128, lab[..., 2][skin] - 128)))

    def share(self, frame: np.ndarray) -> float:
        import cv2

        lab = cv2.cvtColor(frame, cv2.COLOR_BGR2LAB).astype(np.float32)[self.mask]
        dark = lab[:, 0] < 0.6 * self.lip_l
        chroma = np.hypot(lab[:, 1] - 128, lab[:, 2] - 128)
        teeth = (lab[:, 0] > max(1.15 * self.lip_l, 1.05 * self.skin_l)) & (chroma < 0.6 * self.skin_chroma)
        return float((dark | teeth).mean())


class EyeInterior:
    """How much of the eyes shows: the share of the portrait's eye openings (lid contours) whose colour is
    that of the portrait's own eye whites or iris (its brightest-greyest and darkest quarters there) rather
    than that of the skin around. A closed lid is skin over nearly all of it."""

    def __init__(self, portrait: np.ndarray, points: np.ndarray):
        import cv2

        mask = np.zeros(portrait.shape[:2], np.uint8)
        for upper, lower in ((L.EYE_RIGHT_UPPER, L.EYE_RIGHT_LOWER), (L.EYE_LEFT_UPPER, L.EYE_LEFT_LOWER)):
            poly = np.concatenate([points[upper, :2], points[lower, :2][::-1]])
            cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1)
        self.mask = mask.astype(bool)
        lab = cv2.cvtColor(portrait, cv2.COLOR_BGR2LAB).astype(np.float32)
        eye = lab[self.mask]
        score = eye[:, 0] - np.hypot(eye[:, 1] - 128, eye[:, 2] - 128)
        self.white = np.median(eye[score >= np.percentile(score, 75)], 0)
        self.iris = np.median(eye[eye[:, 0] <= np.percentile(eye[:, 0], 25)], 0)
        ring = cv2.dilate(mask, np.ones((7, 7), np.uint8)).astype(bool) & ~cv2.dilate(mask, np.ones((3, 3), np.uint8)).astype(bool)
        self.skin = np.median(lab[ring], 0)

    def share(self, frame: np.ndarray) -> float:
        import cv2

        lab = cv2.cvtColor(frame, cv2.COLOR_BGR2LAB).astype(np.float32)[self.mask]
        d = lambda c: np.linalg.norm(lab - c, axis=1)  # noqa: E731
        eye_like = np.minimum(d(self.white), d(self.iris)) < d(self.skin)
        return float(eye_like.mean())
