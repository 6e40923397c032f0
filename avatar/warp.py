"""A talking head from one still portrait, with no learned weights: per frame, one smooth displacement
field (jaw drop, lip spread/rounding, eyelids, a little head motion) warps a region around the face, and
a soft mouth cavity with a hint of teeth fills the opening. Pixels away from the face never change.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .face import FaceLayout


@dataclass(frozen=True)
class Pose:
    open: float = 0.0      # 0 closed .. 1 wide open
    spread: float = 0.0    # + spread lips, - rounded
    blink: float = 0.0     # 0 open eyes .. 1 closed
    tilt: float = 0.0      # degrees, about the chin
    dx: float = 0.0        # head shift, pixels
    dy: float = 0.0


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


class WarpRenderer:
    def __init__(self, portrait: np.ndarray, layout: FaceLayout):
        self.portrait = portrait
        self.layout = layout
        H, W = portrait.shape[:2]
        f = layout.face
        # the region that may move: the head with hair and chin, plus a margin
        x0, y0 = int(max(0, f.x - 0.55 * f.w)), int(max(0, f.y - 0.75 * f.h))
        x1, y1 = int(min(W, f.x + 1.55 * f.w)), int(min(H, f.y + 1.6 * f.h))
        self.roi = (x0, y0, x1, y1)
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32)
        self.xs, self.ys = xs, ys
        m = layout.mouth
        self.mx, self.my = m.cx, m.cy
        self.mw = m.w / 2                       # half mouth width
        self.face_h = f.h
        self.jaw_amp = 0.11 * f.h               # jaw drop at open = 1, pixels
        chin = m.cy + 0.32 * f.h
        # jaw: everything below the lip line moves down, fading out past the chin and towards the cheeks
        # between the lips the jaw parts sharply (the cavity shows there); across the cheeks the skin
        # only stretches, so no seam appears beside the mouth
        in_mouth = 1 - _smoothstep((np.abs(xs - m.cx) - 0.75 * self.mw) / (0.35 * self.mw))
        sharp = _smoothstep((ys - (m.cy - 0.02 * f.h)) / (0.04 * f.h))
        soft = _smoothstep((ys - (m.cy - 0.12 * f.h)) / (0.3 * f.h))
        below = in_mouth * sharp + (1 - in_mouth) * soft
        fade_down = 1 - _smoothstep((ys - chin) / (0.25 * f.h))
        side = 1 - _smoothstep((np.abs(xs - m.cx) - 0.32 * f.w) / (0.22 * f.w))
        self.w_jaw = (below * fade_down * side).astype(np.float32)
        # upper lip lifts a little
        above = _smoothstep(((m.cy + 0.01 * f.h) - ys) / (0.03 * f.h))
        upper_fade = 1 - _smoothstep((m.cy - ys) / (0.12 * f.h))
        lip_side = 1 - _smoothstep((np.abs(xs - m.cx) - 0.6 * self.mw) / (0.4 * self.mw))
        self.w_upper = (above * upper_fade * lip_side).astype(np.float32)
        # lips spread/round around the mouth centre
        r = np.sqrt(((xs - m.cx) / (1.6 * self.mw)) ** 2 + ((ys - m.cy) / (0.28 * f.h)) ** 2)
        self.w_lips = (1 - _smoothstep(r)).astype(np.float32)
        # eyelids: sample from above the eye inside an ellipse around each eye
        self.w_eyes = np.zeros_like(xs)
        self.eye_tops = np.zeros_like(xs)
        for e in layout.eyes:
            er = np.sqrt(((xs - e.cx) / (0.42 * e.w)) ** 2 + ((ys - (e.cy + 0.02 * e.h)) / (0.2 * e.h)) ** 2)
            w = (1 - _smoothstep((er - 0.6) / 0.4)).astype(np.float32)
            top = e.cy - 0.2 * e.h  # the upper lid: sampled downwards over the eye
            self.eye_tops = np.where(w > self.w_eyes, top, self.eye_tops)
            self.w_eyes = np.maximum(self.w_eyes, w)
        # the head moves rigidly inside, fading to nothing at the region's border
        hx = np.sqrt(((xs - f.cx) / (0.95 * f.w)) ** 2 + ((ys - (f.cy + 0.1 * f.h)) / (1.15 * f.h)) ** 2)
        self.w_head = (1 - _smoothstep((hx - 0.75) / 0.45)).astype(np.float32)
        self.pivot = (f.cx, chin + 0.15 * f.h)
        self.cavity_color = self._cavity_color()

    def _cavity_color(self) -> np.ndarray:
        """A dark, slightly red mouth interior, derived from the lips so it suits the portrait."""
        m = self.layout.mouth
        y, x = int(m.cy), int(m.cx)
        patch = self.portrait[max(0, y - 3): y + 4, max(0, x - int(self.mw / 2)): x + int(self.mw / 2)]
        lip = patch.reshape(-1, 3).mean(0) if patch.size else np.array([60, 60, 120], np.float32)
        return np.clip(lip * np.array([0.25, 0.22, 0.38]), 8, 90).astype(np.float32)

    def render(self, pose: Pose) -> np.ndarray:
        import cv2

        x0, y0, x1, y1 = self.roi
        drop = pose.open * self.jaw_amp
        lift = 0.22 * drop
        map_x = self.xs.copy()
        map_y = self.ys - drop * self.w_jaw + lift * self.w_upper
        # spread pulls content outwards (sample nearer the centre), rounding pushes it in
        k = 0.18 * pose.spread
        map_x += -k * (self.xs - self.mx) * self.w_lips
        if pose.blink > 0:
            map_y -= pose.blink * np.maximum(self.ys - self.eye_tops, 0) * self.w_eyes
        if pose.tilt or pose.dx or pose.dy:
            a = np.deg2rad(pose.tilt)
            px, py = self.pivot
            rx = np.cos(a) * (self.xs - px) + np.sin(a) * (self.ys - py) + px - pose.dx
            ry = -np.sin(a) * (self.xs - px) + np.cos(a) * (self.ys - py) + py - pose.dy
            map_x += (rx - self.xs) * self.w_head
            map_y += (ry - self.ys) * self.w_head
        frame = self.portrait.copy()
        roi = cv2.remap(self.portrait, map_x.astype(np.float32), map_y.astype(np.float32), cv2.INTER_LINEAR,
                        borderMode=cv2.BORDER_REFLECT)
        if drop > 0.6:
            self._paint_cavity(roi, pose, drop, lift)
        frame[y0:y1, x0:x1] = roi
        return frame

    def _paint_cavity(self, roi: np.ndarray, pose: Pose, drop: float, lift: float) -> None:
        import cv2

        x0, y0, _, _ = self.roi
        head_x, head_y = self._head_offset(pose)
        cx = self.mx - x0 + head_x
        top, bottom = self.my - lift - y0 + head_y, self.my + drop - y0 + head_y
        half_h = max((bottom - top) / 2 * 0.8, 0.5)
        half_w = self.mw * (0.72 + 0.12 * pose.spread) * (1 - 0.3 * max(-pose.spread, 0))
        cy = (top + bottom) / 2
        pad = int(half_w + 4)
        ya, yb = int(max(cy - half_h - 4, 0)), int(min(cy + half_h + 5, roi.shape[0]))
        xa, xb = int(max(cx - pad, 0)), int(min(cx + pad + 1, roi.shape[1]))
        if yb <= ya or xb <= xa:
            return
        yy, xx = np.mgrid[ya:yb, xa:xb].astype(np.float32)
        inside = ((xx - cx) / half_w) ** 2 + ((yy - cy) / half_h) ** 2
        alpha = (1 - _smoothstep((inside - 0.65) / 0.35))[..., None]
        color = np.broadcast_to(self.cavity_color, alpha.shape[:2] + (3,)).copy()
        teeth = (yy < top + 0.32 * (bottom - top)) & (np.abs(xx - cx) < 0.75 * half_w)
        color[teeth] = np.array([200, 205, 210], np.float32) * min(1.0, pose.open * 1.2)
        color = cv2.GaussianBlur(color, (3, 3), 0)
        patch = roi[ya:yb, xa:xb].astype(np.float32)
        roi[ya:yb, xa:xb] = (alpha * color + (1 - alpha) * patch).astype(np.uint8)

    def _head_offset(self, pose: Pose) -> tuple[float, float]:
        if not (pose.tilt or pose.dx or pose.dy):
            return 0.0, 0.0
        a = np.deg2rad(pose.tilt)
        px, py = self.pivot
        x, y = self.mx - px, self.my - py
        return (np.cos(a) * x - np.sin(a) * y + px + pose.dx - self.mx,
                np.sin(a) * x + np.cos(a) * y + py + pose.dy - self.my)
