"""The landmark renderer of the `warp` engine: a portrait's FaceMesh rig warped piecewise-affinely per frame
(lips, jaw, eyelids, head), with the mouth opening painted from the portrait's own colours. Same interface as
the Haar-box `WarpRenderer`, which stays the fallback when no landmarks are found."""
from __future__ import annotations

import numpy as np

from .mesh import MeshWarp, Pose, Rig
from .eyes import EyeLids
from .mouth import MouthPainter


class LandmarkRenderer:
    def __init__(self, portrait: np.ndarray, points: np.ndarray):
        self.portrait = portrait
        self.rig = Rig(points, portrait.shape)
        self.mesh = MeshWarp(self.rig)
        self.painter = MouthPainter(portrait, self.rig)
        self.lids = EyeLids(self.rig)
        self.roi = self.rig.roi
        self.source = self.rig.source(portrait)

    def render(self, pose: Pose) -> np.ndarray:
        x0, y0, x1, y1 = self.roi
        dst = self.rig.deform(pose)
        region = self.mesh.warp(self.portrait, dst, self.source)
        upper = self.rig.pos[13]
        self.painter.paint(region, dst, (x0, y0), shift=tuple(dst[upper] - self.rig.rest[upper]))
        if pose.blink > 0:
            self.lids.paint(region, dst, (x0, y0), pose.blink)
        frame = self.portrait.copy()
        frame[y0:y1, x0:x1] = region
        return frame
