"""Images inside a Teams message: a bot's message is refused above about 28 KB, data: URIs included, so a chart
is re-encoded to fit (a palette PNG first, then smaller) rather than refused. Pillow comes with matplotlib."""

from __future__ import annotations

import base64
import io

from PIL import Image

COLOURS = (128, 64, 32)  # palette sizes tried: a chart has a few flat colours and anti-aliased edges
SHRINK = 0.8  # each further try is this much narrower
MIN_WIDTH = 320  # below this a chart is no longer readable: give up


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def fit_png(png: bytes, max_uri_bytes: int) -> bytes | None:
    """`png` itself when its data: URI fits in `max_uri_bytes`, else a smaller encoding of it that does, or None."""
    if len(data_uri(png)) <= max_uri_bytes:
        return png
    try:
        with Image.open(io.BytesIO(png)) as opened:
            image = opened.convert("RGB")
    except (OSError, ValueError):  # not an image Pillow reads: sent as it is, or refused for its size
        return None
    while image.width >= MIN_WIDTH:
        for colours in COLOURS:
            out = io.BytesIO()
            image.quantize(colors=colours, method=Image.Quantize.MEDIANCUT).save(out, format="PNG", optimize=True)
            if len(data_uri(out.getvalue())) <= max_uri_bytes:
                return out.getvalue()
        image = image.resize((int(image.width * SHRINK), int(image.height * SHRINK)), Image.Resampling.LANCZOS)
    return None
