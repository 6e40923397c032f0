"""When to blink. People blink about every 2-6 s (15-20 a minute at rest); a blink lasts ~0.25 s, closing
faster than it opens. Speakers blink at pauses and word boundaries, not on a stressed syllable, so a blink
that would land on a peak of mouth opening is moved to the next calmer moment."""
from __future__ import annotations

import numpy as np

# lid closure per frame at 25 fps: ~80 ms down, ~40 ms shut, ~160 ms up
SHAPE_25 = np.array([0.45, 0.9, 1.0, 0.75, 0.45, 0.2, 0.05])


def blink_shape(fps: float) -> np.ndarray:
    t = np.arange(len(SHAPE_25)) / 25.0
    n = max(3, int(round(len(SHAPE_25) * fps / 25)))
    return np.interp(np.arange(n) / fps, t, SHAPE_25)


def blink_curve(n_frames: int, fps: float, seed: int = 0, opening: np.ndarray | None = None) -> np.ndarray:
    """Per-frame lid closure 0..1. With the mouth's `opening` track, no blink overlaps a stress peak (a
    frame whose opening is in the top fifth of the speech and a local maximum)."""
    rng = np.random.default_rng(seed)
    shape = blink_shape(fps)
    curve = np.zeros(n_frames)
    peaks = np.zeros(n_frames, bool)
    if opening is not None and len(opening) and opening.max() > 0:
        o = np.asarray(opening[:n_frames], float)
        high = o >= np.percentile(o[o > 0.05], 80) if (o > 0.05).any() else np.zeros(len(o), bool)
        local = np.r_[False, (o[1:-1] >= o[:-2]) & (o[1:-1] >= o[2:]), False] if len(o) > 2 else np.zeros(len(o), bool)
        peaks[:len(o)] = high & local
    t = rng.uniform(0.6, 2.0)
    while t * fps < n_frames:
        i = int(t * fps)
        for _ in range(int(fps)):      # look up to a second later for a calm moment
            if not peaks[max(i - 1, 0): i + len(shape) + 1].any():
                break
            i += 1
        end = min(i + len(shape), n_frames)
        if i < n_frames:
            curve[i:end] = np.maximum(curve[i:end], shape[: end - i])
        t = i / fps + rng.uniform(2.0, 5.5)
    return curve


class EyeLids:
    """A blink as the upper lid sliding down over the eye, column by column on smooth curves fitted to
    the lid landmarks: the lid skin between the crease and the lashes is stretched down to the lower lid
    (it keeps its own texture), the lashes come down with it, and the eye below is simply covered."""

    def __init__(self, rig):
        from . import landmarks as L

        self.rig = rig
        self.eyes = ((L.EYE_RIGHT_UPPER, L.EYE_RIGHT_LOWER), (L.EYE_LEFT_UPPER, L.EYE_LEFT_LOWER))
        self.brows = (L.BROW_RIGHT[:5], L.BROW_LEFT[:5])

    def paint(self, roi: np.ndarray, dst: np.ndarray, origin, blink: float) -> None:
        import cv2

        b = float(np.clip(blink, 0, 1))
        if b <= 0:
            return
        ox, oy = origin
        for (upper, lower), brow_ids in zip(self.eyes, self.brows):
            up, lo = dst[self.rig.v(upper)], dst[self.rig.v(lower)]
            left, right = up[0, 0], up[-1, 0]
            if right - left < 4:
                continue
            U = np.polyfit(up[:, 0], up[:, 1], 2)
            D = np.polyfit(lo[:, 0], lo[:, 1], 2)
            width = right - left
            x0 = int(np.floor(left - 0.15 * width)) - ox
            x1 = int(np.ceil(right + 0.15 * width)) - ox + 1
            top = float(min(up[:, 1].min(), lo[:, 1].min())) - 0.45 * width
            brow = float(dst[self.rig.v(brow_ids), 1].mean())     # the lid skin ends below the brow
            top = max(top, brow + 0.2 * (float(up[:, 1].min()) - brow))
            y0 = int(np.floor(top)) - oy
            y1 = int(np.ceil(lo[:, 1].max() + 0.12 * width)) - oy + 1
            x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, roi.shape[1]), min(y1, roi.shape[0])
            if x1 - x0 < 3 or y1 - y0 < 3:
                continue
            xs = np.arange(x0, x1, dtype=np.float32) + ox
            ys = np.arange(y0, y1, dtype=np.float32)[:, None] + oy
            u = np.polyval(U, xs)[None, :]
            d = np.polyval(D, xs)[None, :]
            gap = np.clip(d - u, 0, None)
            taper = np.clip(1 - ((xs - (left + right) / 2) / (0.55 * width)) ** 2, 0, 1)[None, :]
            edge = u + b * (gap + 0.03 * width * taper)                 # where the lid's lashes are now
            crease = top
            # rows from the crease to the new lid edge sample the lid from the crease to its lashes
            src_edge = u - 0.12 * b * gap
            k = (src_edge - crease) / np.maximum(edge - crease, 1e-3)
            lid = crease + (ys - crease) * k
            soft = np.clip((edge + 0.8 - ys) / 1.6, 0, 1) * (ys >= crease)
            map_y = (soft * lid + (1 - soft) * ys).astype(np.float32)
            map_x = np.broadcast_to(xs[None, :], map_y.shape).astype(np.float32) - ox
            region = roi[y0:y1, x0:x1].copy()
            warped = cv2.remap(roi, map_x, (map_y - oy).astype(np.float32), cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT)
            roi[y0:y1, x0:x1] = warped if region.shape == warped.shape else region
