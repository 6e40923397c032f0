"""Captions burnt into frames."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def burn_caption(frame: np.ndarray, text: str) -> np.ndarray:
    """White text on a translucent band (PIL + DejaVu Sans when available, else OpenCV's Hershey font)."""
    import cv2

    h, w = frame.shape[:2]
    size = max(14, h // 22)
    band_top = h - int(size * 2.2)
    out = frame.copy()
    out[band_top:] = (out[band_top:] * 0.45).astype(np.uint8)
    try:
        from PIL import Image, ImageDraw, ImageFont
        import matplotlib

        font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans.ttf"), size)
        image = Image.fromarray(cv2.cvtColor(out, cv2.COLOR_BGR2RGB))
        draw = ImageDraw.Draw(image)
        tw = draw.textlength(text, font=font)
        draw.text(((w - tw) / 2, band_top + size * 0.5), text, font=font, fill=(255, 255, 255))
        return cv2.cvtColor(np.asarray(image), cv2.COLOR_RGB2BGR)
    except (ImportError, OSError):
        scale = size / 30
        (tw, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        cv2.putText(out, text, ((w - tw) // 2, h - int(size * 0.7)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (255, 255, 255), 1, cv2.LINE_AA)
        return out
