"""A triangulated face rig on FaceMesh landmarks, and one piecewise-affine warp per frame.

The rig's vertices are the lips (inner and outer contours), eyelids, brows, nose, cheeks,
the face oval, a ring through the hair and the border of the region that may move. A pose moves them as a
face moves: the lower lip and chin go down with the jaw (most at the chin's centre, fading towards the ears),
the upper lip lifts a little, the inner lip contours close exactly onto each other at open = 0 (p, b, m), the
corners spread or round, and the head turns slightly (blinks: `eyes.EyeLids`, on the warped frame). Each triangle
is mapped affinely from where it is in the frame to where it was in the portrait, so skin and lips keep
their own texture; only the space between the inner lips is new, and `mouth.py` paints it.

The triangulation is computed once on an opened version of the rest pose, so that no triangle
bridges upper and lower lip except those of the mouth slit itself.
"""
from __future__ import annotations

import numpy as np

from . import landmarks as L
from .warp import Pose  # noqa: F401  (one pose type for both renderers)

STRIDE = 2   # the warp is computed on every 2nd pixel and interpolated: it is smooth, and this is 4x cheaper


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


class Rig:
    """Vertices of one face (from its 468 landmarks) with what each vertex follows."""

    IDS = sorted(set(L.LIPS_OUTER_UPPER + L.LIPS_OUTER_LOWER + L.LIPS_INNER_UPPER + L.LIPS_INNER_LOWER
                     + L.EYE_RIGHT_UPPER + L.EYE_RIGHT_LOWER + L.EYE_LEFT_UPPER + L.EYE_LEFT_LOWER
                     + L.BROW_RIGHT + L.BROW_LEFT + L.FACE_OVAL + L.NOSE + L.CHEEKS))

    def __init__(self, points: np.ndarray, image_shape, roi: tuple[int, int, int, int] | None = None):
        H, W = image_shape[:2]
        p = points[:, :2].astype(np.float64)
        self.landmarks = p
        oval = p[L.FACE_OVAL]
        fx0, fy0 = oval.min(0)
        fx1, fy1 = oval.max(0)
        fw, fh = fx1 - fx0, fy1 - fy0
        if roi is None:
            roi = (int(max(0, fx0 - 0.45 * fw)), int(max(0, fy0 - 0.45 * fh)),
                   int(min(W, fx1 + 0.45 * fw)), int(min(H, fy1 + 0.35 * fh)))
        self.roi = roi
        x0, y0, x1, y1 = roi
        self.pos = {i: k for k, i in enumerate(self.IDS)}
        verts = [p[self.IDS]]
        centre = oval.mean(0)
        n_ring = len(np.concatenate(verts))
        ring = centre + 1.28 * (oval[::2] - centre)
        ring[:, 0] = np.clip(ring[:, 0], x0 + 3, x1 - 4)
        ring[:, 1] = np.clip(ring[:, 1], y0 + 3, y1 - 4)
        verts.append(ring)
        n_border = n_ring + len(ring)
        bx = np.linspace(x0, x1 - 1, 6)
        by = np.linspace(y0, y1 - 1, 6)
        border = ([(x, y0) for x in bx] + [(x, y1 - 1) for x in bx]
                  + [(x0, y) for y in by[1:-1]] + [(x1 - 1, y) for y in by[1:-1]])
        verts.append(np.array(border, np.float64))
        self.rest = np.concatenate(verts)
        n = len(self.rest)
        self.w_head = np.ones(n)
        self.w_head[n_ring:n_border] = 0.6
        self.w_head[n_border:] = 0.0
        self.fixed = np.zeros(n, bool)
        self.fixed[n_ring:] = True            # hair ring and border: only the head motion moves them
        # measures of this face
        self.mouth_centre = (p[13] + p[14]) / 2
        self.half_width = abs(p[291, 0] - p[61, 0]) / 2
        self.inner_half_width = max(abs(p[308, 0] - p[78, 0]) / 2, 1.0)
        self.face_h = float(np.linalg.norm(p[L.CHIN] - (p[159] + p[386]) / 2))
        self.face_w = fw
        self.eye_width = float(np.linalg.norm(p[33] - p[133]) + np.linalg.norm(p[362] - p[263])) / 2
        self.pivot = np.array([centre[0], p[L.CHIN, 1] + 0.2 * fh])
        self.triangles = None

    def source(self, image: np.ndarray | None = None) -> np.ndarray:
        """Where each vertex samples the image. The inner lip vertices sample a little inside the lips (with
        the image: just inside where the lip colour ends), so the lips' edges never carry what showed between
        them (teeth, the dark gap) when they close."""
        S = self.rest.copy()
        up_in, lo_in = self.v(L.LIPS_INNER_UPPER[1:-1]), self.v(L.LIPS_INNER_LOWER[1:-1])
        up_out, lo_out = self.v(L.LIPS_OUTER_UPPER[1:-1]), self.v(L.LIPS_OUTER_LOWER[1:-1])
        gap = np.maximum(S[lo_in, 1] - S[up_in, 1], 0)
        prof = self._profile(S[up_in, 0])
        inset = 0.45 * gap + 0.006 * self.face_h * prof
        S[up_in, 1] -= np.minimum(inset, 0.5 * np.maximum(S[up_in, 1] - S[up_out, 1], 0))
        S[lo_in, 1] += np.minimum(inset, 0.5 * np.maximum(S[lo_out, 1] - S[lo_in, 1], 0))
        if image is not None:
            self._lip_edges(image, S, up_in, up_out, -1)
            self._lip_edges(image, S, lo_in, lo_out, +1)
        return S

    def _lip_edges(self, image, S, inner, outer, away: int) -> None:
        """Move inner-lip samples out of any dark gap: walking from the outer contour towards the mouth's
        middle, the lip ends at the first pixel much darker than the lip's own colour."""
        import cv2

        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
        H, W = gray.shape
        values = []
        for o, i in zip(outer, inner):
            x = int(round(self.rest[i, 0]))
            y0, y1 = sorted((int(round(self.rest[o, 1])), int(round(self.rest[i, 1]))))
            if 0 <= x < W and 0 <= y0 and y1 < H and y1 > y0:
                values.append(gray[y0:y1 + 1, max(x - 1, 0):x + 2].mean(1))
        if not values:
            return
        lip = np.percentile(np.concatenate(values), 70)
        for o, i in zip(outer, inner):
            x = int(round(self.rest[i, 0]))
            yo, yi = int(round(self.rest[o, 1])), int(round(S[i, 1]))
            if not (0 <= x < W and 0 <= min(yo, yi) and max(yo, yi) < H) or (yi - yo) * away >= 0:
                continue
            step = 1 if yi > yo else -1
            column = gray[:, max(x - 1, 0):x + 2].mean(1)
            for y in range(yo + step, yi + step, step):
                if column[y] < 0.72 * lip:
                    edge = y - step * 1.0
                    if (edge - S[i, 1]) * away > 0:      # only ever further into the lip
                        S[i, 1] = edge
                    break

    def source_for(self, pose: Pose, base: np.ndarray | None = None) -> np.ndarray:
        """`source()`, and while the eyes close, lids that sample their own skin rather than the eye."""
        S = self.source() if base is None else base.copy()
        if pose.blink > 0:
            b = float(np.clip(pose.blink, 0, 1))
            for upper, lower in ((L.EYE_RIGHT_UPPER, L.EYE_RIGHT_LOWER), (L.EYE_LEFT_UPPER, L.EYE_LEFT_LOWER)):
                up, lo = self.v(upper[1:-1]), self.v(lower[1:-1])
                gap = np.maximum(self.rest[lo, 1] - self.rest[up, 1], 0)
                S[up, 1] -= 0.55 * b * gap
                S[lo, 1] += 0.35 * b * gap
        return S

    def v(self, ids) -> np.ndarray:
        return np.array([self.pos[i] for i in ids])

    def triangulate(self) -> np.ndarray:
        """Delaunay triangles of the opened rest pose (indices into the vertices)."""
        import cv2

        opened = self.deform(Pose(open=0.7))
        x0, y0, x1, y1 = self.roi
        subdiv = cv2.Subdiv2D((x0 - 2, y0 - 2, x1 - x0 + 4, y1 - y0 + 4))
        for x, y in opened:
            subdiv.insert((float(x), float(y)))
        tris = []
        for t in subdiv.getTriangleList().reshape(-1, 3, 2):
            # back to vertex numbers by nearest point (Subdiv2D hands float32 coordinates back)
            d = np.linalg.norm(opened[None, :, :] - t[:, None, :].astype(np.float64), axis=2)
            k = d.argmin(1)
            if d[np.arange(3), k].max() < 0.05 and len(set(k.tolist())) == 3:
                tris.append(k.tolist())
        self.triangles = np.array(tris, np.int32)
        return self.triangles

    def deform(self, pose: Pose, mouth: bool = True) -> np.ndarray:
        """Where every vertex goes for `pose` (blinks are drawn by `eyes.EyeLids` on the warped frame)."""
        P = self.rest.copy()
        if mouth:
            self._mouth(P, pose)
        if pose.tilt or pose.dx or pose.dy:
            a = np.deg2rad(pose.tilt)
            c, s = np.cos(a), np.sin(a)
            q = P - self.pivot
            turned = np.stack([c * q[:, 0] - s * q[:, 1], s * q[:, 0] + c * q[:, 1]], 1) + self.pivot + [pose.dx, pose.dy]
            P += self.w_head[:, None] * (turned - P)
        return P

    def _profile(self, x: np.ndarray) -> np.ndarray:
        u = (x - self.mouth_centre[0]) / self.inner_half_width
        return np.sqrt(np.clip(1 - u * u, 0, 1))

    def _mouth(self, P: np.ndarray, pose: Pose) -> None:
        R = self.rest
        mx, my = self.mouth_centre
        Fh, hw = self.face_h, self.half_width
        gap = 0.17 * Fh * float(np.clip(pose.open, 0, 1))
        up_in, lo_in = self.v(L.LIPS_INNER_UPPER), self.v(L.LIPS_INNER_LOWER)
        up_out, lo_out = self.v(L.LIPS_OUTER_UPPER), self.v(L.LIPS_OUTER_LOWER)
        mid_x = (R[up_in, 0] + R[lo_in, 0]) / 2
        mid = np.polyval(np.polyfit(mid_x, (R[up_in, 1] + R[lo_in, 1]) / 2, 2), mid_x)   # a smooth lip line
        prof = self._profile(mid_x)
        # closed lips press into each other a little, hiding whatever showed between them
        press = (0.05 * (R[lo_in, 1] - R[up_in, 1]) + 0.002 * Fh) * prof * (1 - _smoothstep(pose.open / 0.3))
        dy_up = (mid - 0.22 * gap * prof + press) - R[up_in, 1]
        dy_lo = (mid + 0.78 * gap * prof - press) - R[lo_in, 1]
        jaw = dy_lo[len(dy_lo) // 2]                   # how far the chin's centre moves
        lift = dy_up[len(dy_up) // 2]
        dy = np.zeros(len(R))
        others = ~self.fixed.copy()
        # skin below the mouth follows the jaw: fully at the chin's centre, fading to the cheeks and ears
        below = _smoothstep((R[:, 1] - (my - 0.02 * Fh)) / (0.12 * Fh))
        side = 1 - _smoothstep((np.abs(R[:, 0] - mx) - 0.6 * hw) / (1.9 * hw))
        dy += jaw * below * side
        # skin above the upper lip follows it a little, up to the nose
        above = _smoothstep(((my + 0.01 * Fh) - R[:, 1]) / (0.02 * Fh)) * (1 - _smoothstep((my - R[:, 1]) / (0.16 * Fh)))
        dy += lift * 0.6 * above * (1 - _smoothstep((np.abs(R[:, 0] - mx) - 0.5 * hw) / (1.2 * hw)))
        dy[~others] = 0
        # the lips themselves: inner contours meet on the midline (closed) or part by the profile
        dy[up_in], dy[lo_in] = dy_up, dy_lo
        dy[up_out], dy[lo_out] = dy_up, dy_lo
        corners = self.v([61, 291, 78, 308])
        dy[corners] = (dy_up[0] + dy_lo[0]) / 2
        # spread pulls the corners outwards, rounding pushes the lips in and forward (fuller)
        s = float(np.clip(pose.spread, -1, 1))
        r = np.hypot((R[:, 0] - mx) / (1.5 * hw), (R[:, 1] - my) / (0.2 * Fh))
        w_lips = 1 - _smoothstep((r - 0.5) / 0.8)
        k = 0.1 * s if s > 0 else 0.22 * s
        dx = k * (R[:, 0] - mx) * w_lips
        dx[~others] = 0
        if s < 0:
            full = -s * 0.018 * Fh * self._profile(R[up_out, 0])
            dy[up_out] -= full
            dy[lo_out] += full
        P[:, 0] += dx
        P[:, 1] += dy


def _cross(T: np.ndarray) -> np.ndarray:
    """Twice the signed area of each triangle (T, 3, 2)."""
    a, b = T[:, 1] - T[:, 0], T[:, 2] - T[:, 0]
    return a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]


class MeshWarp:
    """Renders frames of one image under rig poses: a piecewise-affine backward map over the rig's region."""

    def __init__(self, rig: Rig, triangles: np.ndarray | None = None):
        self.rig = rig
        self.tris = rig.triangles if triangles is None else triangles
        if self.tris is None:
            self.tris = rig.triangulate()
        x0, y0, x1, y1 = rig.roi
        self.size = (x1 - x0, y1 - y0)
        sw, sh = (self.size[0] + STRIDE - 1) // STRIDE, (self.size[1] + STRIDE - 1) // STRIDE
        self.small = (sw, sh)
        # small-grid pixel centres in image coordinates (what cv2.resize assumes when it scales up)
        gx = x0 + (np.arange(sw) + 0.5) * STRIDE - 0.5
        gy = y0 + (np.arange(sh) + 0.5) * STRIDE - 0.5
        self.gx, self.gy = np.meshgrid(gx.astype(np.float32), gy.astype(np.float32))
        mouth = set(rig.v(L.LIPS_INNER_UPPER + L.LIPS_INNER_LOWER).tolist())
        self.slit = np.array([all(int(v) in mouth for v in t) for t in self.tris])
        # the mouth slit is drawn first, so real skin wins wherever triangles overlap
        self.order = np.concatenate([np.flatnonzero(self.slit), np.flatnonzero(~self.slit)])

    def maps(self, dst: np.ndarray, src: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Full-size float32 remap maps for the region: where each output pixel comes from."""
        import cv2

        tris = self.tris[self.order]
        D, S = dst[tris], src[tris]                     # (T, 3, 2)
        # the mouth slit never shows what lay between the lips: it samples the upper lip's edge (the
        # mouth painter covers it with the inside of the mouth as it opens)
        slit = self.slit[self.order]
        S[slit] = self._lip_edge(src)[tris[slit]]
        M = np.concatenate([D, np.ones(D.shape[:2] + (1,))], 2)
        det, det_src = _cross(D), _cross(S)
        # a triangle squeezed to a sliver (or turned over) has no sound affine map: its neighbours cover it
        ok = (np.abs(det) > 0.5) & ((np.sign(det) == np.sign(det_src)) | slit)
        A = np.zeros((len(tris), 3, 2))
        A[ok] = np.linalg.solve(M[ok], S[ok])
        A[~ok, 2] = S[~ok].mean(1) - D[~ok].mean(1)     # the others: a plain shift with their vertices
        A[~ok, 0, 0] = A[~ok, 1, 1] = 1.0
        index = np.full(self.small[::-1], -1, np.int32)
        x0, y0 = self.rig.roi[:2]
        scaled = ((D - [x0 - 0.5, y0 - 0.5]) / STRIDE - 0.5) * 16
        pts = np.round(scaled).astype(np.int32)
        # unsound triangles first (so no pixel is left behind unmoved), then the sound ones over them
        for k in np.concatenate([np.flatnonzero(~ok & (np.abs(det) > 1e-3)), np.flatnonzero(ok)]):
            cv2.fillConvexPoly(index, pts[k], int(k), lineType=cv2.LINE_8, shift=4)
        A = A.astype(np.float32)
        a = np.concatenate([A.reshape(len(A), 6), np.array([[1, 0, 0, 1, 0, 0]], np.float32)])
        coef = a[index]                                 # -1 (uncovered) takes the identity row
        mx = coef[..., 0] * self.gx + coef[..., 2] * self.gy + coef[..., 4]
        my = coef[..., 1] * self.gx + coef[..., 3] * self.gy + coef[..., 5]
        reach = np.float32(0.25 * self.rig.face_h)     # no pixel is fetched from further than a face part away
        mx = np.clip(mx, self.gx - reach, self.gx + reach)
        my = np.clip(my, self.gy - reach, self.gy + reach)
        full = self.size
        return (cv2.resize(mx, full, interpolation=cv2.INTER_LINEAR),
                cv2.resize(my, full, interpolation=cv2.INTER_LINEAR))

    def _lip_edge(self, src: np.ndarray) -> np.ndarray:
        """`src` with each lower inner-lip vertex moved onto its upper partner, slightly spread so that
        the slit's triangles keep an area to sample from."""
        out = src.copy()
        up, lo = self.rig.v(L.LIPS_INNER_UPPER), self.rig.v(L.LIPS_INNER_LOWER)
        out[lo] = src[up] + [0, -0.8]
        out[up] = src[up] + [0, -0.2]
        return out

    def warp(self, image: np.ndarray, dst: np.ndarray, src: np.ndarray | None = None) -> np.ndarray:
        """The region of `image` warped so that vertices at `src` (default: the rest pose) land on `dst`."""
        import cv2

        mx, my = self.maps(dst, self.rig.rest if src is None else src)
        return cv2.remap(image, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
