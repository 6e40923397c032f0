"""The inside of an open mouth, made from the portrait's own colours: a dark cavity that darkens with depth
(the lips' own shadow colour at the edge, deeper inside), the upper teeth (the portrait's own when it shows
them, else a shaded band in the colour of the eye whites), a hint of tongue, and the lips' fine texture on
top so nothing is a flat colour. All edges are soft: the inner lip line is anti-aliased and feathered.
"""
from __future__ import annotations

import numpy as np

from . import landmarks as L


def _poly(points: np.ndarray, shape, origin=(0, 0), scale: int = 4) -> np.ndarray:
    """An anti-aliased float mask of a polygon (4x supersampled edges)."""
    import cv2

    pts = np.round((points - origin) * 16).astype(np.int32)
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [pts], 255, lineType=cv2.LINE_AA, shift=4)
    return mask.astype(np.float32) / 255.0


def _robust_colour(pixels: np.ndarray, default) -> np.ndarray:
    return np.median(pixels, 0).astype(np.float32) if len(pixels) >= 8 else np.array(default, np.float32)


class MouthPainter:
    """Colours measured once on the portrait (or a video's first frame); `paint` fills one frame's opening."""

    def __init__(self, image: np.ndarray, rig, own_teeth: bool = True):
        import cv2

        p = rig.landmarks
        H, W = image.shape[:2]
        outer = np.concatenate([p[L.LIPS_OUTER_UPPER], p[L.LIPS_OUTER_LOWER][::-1]])
        inner = np.concatenate([p[L.LIPS_INNER_UPPER], p[L.LIPS_INNER_LOWER][::-1]])
        lips = (_poly(outer, (H, W)) > 0.5) & ~(_poly(inner, (H, W)) > 0.5)
        lip_px = image[lips].astype(np.float32)
        self.lip = _robust_colour(lip_px, (90, 90, 160))
        lum = lip_px @ np.array([0.114, 0.587, 0.299], np.float32) if len(lip_px) else np.zeros(0)
        dark = lip_px[lum <= np.percentile(lum, 8)] if len(lum) >= 20 else np.zeros((0, 3))
        self.shadow = _robust_colour(dark, self.lip * 0.5)            # the lips' own darkest tone
        self.deep = np.clip(self.shadow * 0.35, 4, 60)                 # the back of the mouth
        self.tongue = np.clip(self.lip * np.array([0.55, 0.55, 0.75]), 10, 200)
        # the portrait's own teeth: bright, unsaturated pixels between the inner lips
        interior = _poly(inner, (H, W)) > 0.5
        hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
        teeth = interior & (hsv[..., 2] > 0.75 * np.percentile(hsv[..., 2][lips], 90) if lips.any() else interior) \
            & (hsv[..., 1] < 90)
        seen = int(teeth.sum()) >= max(12, 0.002 * rig.face_h ** 2)
        # a video's own teeth move with every frame: there only their colour is used
        self.has_teeth = seen and own_teeth
        self.interior_mask = cv2.GaussianBlur(interior.astype(np.float32), (3, 3), 0) if self.has_teeth else None
        if seen:
            self.teeth = _robust_colour(image[teeth].astype(np.float32), (200, 205, 210))
        else:
            sclera = self._sclera(image, p, hsv)
            self.teeth = np.clip(0.82 * sclera + 0.18 * self.lip, 0, 255)
        # the lips' fine texture (what a blur removes), laid over the painted interior
        x0, y0 = np.maximum(outer.min(0).astype(int), 0)
        x1, y1 = outer.max(0).astype(int) + 1
        patch = image[y0:y1, x0:x1].astype(np.float32)
        self.grain = (patch - cv2.GaussianBlur(patch, (0, 0), 1.5)).mean(2) if patch.size else np.zeros((4, 4), np.float32)
        self.image = image
        self.rig = rig
        # closing lips that were apart in the portrait hides teeth or a dark gap under a soft lip line
        rest_gap = float(np.median(p[L.LIPS_INNER_LOWER[3:-3], 1] - p[L.LIPS_INNER_UPPER[3:-3], 1]))
        self.line_strength = float(np.clip((rest_gap - 0.01 * rig.face_h) / (0.02 * rig.face_h), 0, 1))

    @staticmethod
    def _sclera(image, p, hsv) -> np.ndarray:
        H, W = image.shape[:2]
        eyes = np.zeros((H, W), bool)
        for upper, lower in ((L.EYE_RIGHT_UPPER, L.EYE_RIGHT_LOWER), (L.EYE_LEFT_UPPER, L.EYE_LEFT_LOWER)):
            eyes |= _poly(np.concatenate([p[upper], p[lower][::-1]]), (H, W)) > 0.5
        px = image[eyes].astype(np.float32)
        if len(px) < 10:
            return np.array([200, 205, 210], np.float32)
        v = hsv[eyes][:, 2]
        bright = px[v >= np.percentile(v, 75)]
        return _robust_colour(bright, (200, 205, 210))

    def _lip_line(self, roi, line, origin, strength: float) -> None:
        """Where closed lips meet, a soft line in the lips' own shadow colour."""
        import cv2

        ox, oy = origin
        fit = np.polyfit(line[:, 0], line[:, 1], 2)          # a smooth seam, whatever the contours' wiggles
        xs = np.linspace(line[:, 0].min(), line[:, 0].max(), 24)
        line = np.stack([xs, np.polyval(fit, xs)], 1)
        x0, y0 = np.floor(line.min(0) - 3).astype(int)
        x1, y1 = np.ceil(line.max(0) + 4).astype(int)
        x0, y0, x1, y1 = max(x0, ox), max(y0, oy), min(x1, ox + roi.shape[1]), min(y1, oy + roi.shape[0])
        if x1 - x0 < 3 or y1 - y0 < 3:
            return
        mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
        pts = np.round((line - (x0, y0)) * 16).astype(np.int32)
        thick = max(1, int(round(0.02 * self.rig.face_h)))
        cv2.polylines(mask, [pts], False, 255, thick, cv2.LINE_AA, shift=4)
        a = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 0.6)[..., None] * (0.85 * strength)
        across = np.clip(1.4 * (1 - np.abs(np.arange(x0, x1) - line[:, 0].mean()) / (0.5 * np.ptp(line[:, 0]) + 1)), 0, 1)
        a = a * across[None, :, None]
        sl = roi[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
        seam = 0.6 * self.shadow + 0.4 * self.lip
        sl[:] = np.clip(sl * (1 - a) + seam * a, 0, 255).astype(np.uint8)

    def paint(self, roi: np.ndarray, dst: np.ndarray, origin: tuple[int, int], shift=(0.0, 0.0)) -> None:
        """Fill the opening between the inner lip contours of `dst` (image coordinates) in `roi`, in place.
        `shift` is how far the upper lip moved (the portrait's own teeth move with it)."""
        import cv2

        rig = self.rig
        up, lo = dst[rig.v(L.LIPS_INNER_UPPER)], dst[rig.v(L.LIPS_INNER_LOWER)]
        polygon = np.concatenate([up, lo[::-1][1:-1]])
        gap = float(lo[len(lo) // 2, 1] - up[len(up) // 2, 1])
        ox, oy = origin
        bx0, by0 = np.floor(polygon.min(0) - 3).astype(int)
        bx1, by1 = np.ceil(polygon.max(0) + 4).astype(int)
        bx0, by0 = max(bx0, ox), max(by0, oy)
        bx1, by1 = min(bx1, ox + roi.shape[1]), min(by1, oy + roi.shape[0])
        if bx1 - bx0 < 3 or by1 - by0 < 3:
            return
        if gap > 0.5:
            self._interior(roi, up, lo, polygon, gap, (bx0, by0, bx1, by1), origin, shift)
        if gap < 1.5 and self.line_strength > 0:
            self._lip_line(roi, (up + lo) / 2, origin, self.line_strength * (1 - max(gap, 0) / 1.5))

    def _interior(self, roi, up, lo, polygon, gap, box, origin, shift) -> None:
        import cv2

        rig = self.rig
        ox, oy = origin
        bx0, by0, bx1, by1 = box
        h, w = by1 - by0, bx1 - bx0
        mask = _poly(polygon, (h, w), (bx0, by0))
        alpha = cv2.GaussianBlur(mask, (0, 0), 0.7)
        ys, xs = np.mgrid[by0:by1, bx0:bx1].astype(np.float32)
        xs += 0.0
        # depth: distance from the lips inside the opening
        inside = (mask > 0.5).astype(np.uint8)
        depth = cv2.distanceTransform(np.pad(inside, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]
        t = np.exp(-depth / (0.18 * max(gap, 0) + 0.8))[..., None]
        colour = self.deep + (self.shadow - self.deep) * t
        # tongue: a soft, darker-red mound rising from the lower lip
        cx = float(up[len(up) // 2, 0] + lo[len(lo) // 2, 0]) / 2
        low_y = np.interp(xs, lo[:, 0], lo[:, 1]) if np.all(np.diff(lo[:, 0]) > 0) else lo[len(lo) // 2, 1]
        top_y = np.interp(xs, up[:, 0], up[:, 1]) if np.all(np.diff(up[:, 0]) > 0) else up[len(up) // 2, 1]
        half_w = max(float(lo[-1, 0] - lo[0, 0]) / 2, 1.0)
        tongue = np.exp(-(((xs - cx) / (0.55 * half_w)) ** 2 + ((ys - low_y) / (0.32 * max(gap, 0) + 0.5)) ** 2))
        tongue = (tongue * np.clip((gap - 4) / 10, 0, 0.55))[..., None]
        colour = colour * (1 - tongue) + self.tongue * (0.75 + 0.25 * t) * tongue
        # upper teeth: the portrait's own (moving with the upper lip), or a shaded band under the upper lip
        across = np.clip(1 - np.abs(xs - cx) / (0.85 * half_w), 0, 1)
        if self.has_teeth:
            src_x, src_y = xs - np.float32(shift[0]), ys - np.float32(shift[1])
            own = cv2.remap(self.image, src_x, src_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT).astype(np.float32)
            keep = cv2.remap(self.interior_mask, src_x, src_y, cv2.INTER_LINEAR)[..., None]
            colour = own * keep + colour * (1 - keep)
        else:
            height = min(0.3 * gap, 0.055 * rig.face_h)
            below = ys - top_y
            band = np.clip(1 - (below - height) / 1.2, 0, 1) * np.clip(below / 1.0 + 0.6, 0, 1)
            band *= np.clip((gap - 3) / 6, 0, 1) * (across ** 0.7)
            shade = (0.55 + 0.35 * np.clip(below / max(height, 1), 0, 1)) * (0.6 + 0.4 * across)
            band = band[..., None]
            colour = colour * (1 - band) + self.teeth * shade[..., None] * band
        # the lips' grain, so no region is one flat colour
        gh, gw = self.grain.shape
        grain = np.tile(self.grain, (h // gh + 1, w // gw + 1))[:h, :w]
        colour = colour + 0.8 * grain[..., None]
        a = alpha[..., None]
        sl = roi[by0 - oy:by1 - oy, bx0 - ox:bx1 - ox]
        sl[:] = np.clip(sl.astype(np.float32) * (1 - a) + colour * a, 0, 255).astype(np.uint8)
