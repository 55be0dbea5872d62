"""Draw the Teams app icons once: integrations/teams/manifest/color.png (192x192, a teal rounded square with a white
cross) and outline.png (32x32, the same shapes in white on transparent, as Teams requires). Run from the repo root:
`python scripts/teams_icons.py`. The PNGs are committed; handlers/teams/package.py only zips them."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "integrations" / "teams" / "manifest"
TEAL = (0x0F, 0x76, 0x6E)  # the manifest's accentColor, #0F766E
SUPER = 8  # supersampling, for smooth edges


def rounded_square(n: int, inset: float, radius: float) -> np.ndarray:
    """Coverage (0..1) of a rounded square; inset and radius as fractions of the side."""
    c = (np.arange(n * SUPER) + 0.5) / (n * SUPER)
    x, y = np.meshgrid(c, c)
    lo, hi = inset + radius, 1 - inset - radius
    dx = np.maximum(np.maximum(lo - x, x - hi), 0)
    dy = np.maximum(np.maximum(lo - y, y - hi), 0)
    inside = (np.hypot(dx, dy) <= radius) & (x >= inset) & (x <= 1 - inset) & (y >= inset) & (y <= 1 - inset)
    return downsample(inside, n)


def cross(n: int, arm: float, half_width: float) -> np.ndarray:
    """Coverage of a plus sign centred in the square: arms reach `arm` from the centre, `half_width` thick."""
    c = (np.arange(n * SUPER) + 0.5) / (n * SUPER) - 0.5
    x, y = np.meshgrid(np.abs(c), np.abs(c))
    inside = ((x <= half_width) & (y <= arm)) | ((y <= half_width) & (x <= arm))
    return downsample(inside, n)


def downsample(mask: np.ndarray, n: int) -> np.ndarray:
    return np.asarray(mask.reshape(n, SUPER, n, SUPER).mean(axis=(1, 3)), dtype=float)


def save(path: Path, rgb: np.ndarray, alpha: np.ndarray) -> None:
    rgba = np.dstack([rgb, alpha]).astype(np.float64)
    matplotlib.image.imsave(path, np.clip(rgba, 0, 1), format="png", metadata={"Software": None})  # type: ignore[dict-item]


def main() -> None:
    n = 192
    square, plus = rounded_square(n, 0.0, 0.18), cross(n, 0.30, 0.09)
    teal = np.array(TEAL) / 255
    rgb = teal * (1 - plus[..., None]) + np.ones(3) * plus[..., None]
    save(OUT / "color.png", rgb, square)

    n = 32
    ring = np.clip(rounded_square(n, 0.03, 0.2) - rounded_square(n, 0.03 + 2 / n, 0.2 - 2 / n), 0, 1)
    shape = np.maximum(ring, cross(n, 0.25, 0.085))
    save(OUT / "outline.png", np.ones((n, n, 3)), shape)


if __name__ == "__main__":
    main()
