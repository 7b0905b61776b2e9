"""QR images of the codes and links the pages show, drawn with segno.

Drawn with one fixed mask pattern: left to choose, segno draws all eight
masks and keeps the one its penalty rules score best, which costs 8 ms a
code against 0.9 ms (measured here). A phone refreshes its prize code every
15 s, so that choice was most of what the code endpoint cost under load
(200 terminals: 43% of the API process). Every mask is a valid QR code
(ISO/IEC 18004, 7.8) and readers decode any of them; the round-trip tests
read these images back with zxing-cpp, photo-like ones included, and read
all eight masks equally well.
"""

from __future__ import annotations

import io

import segno

#: The mask pattern every image uses (see the module docstring).
MASK = 0


def qr(text: str) -> segno.QRCode:
    """The QR code of `text` at error-correction level M."""
    return segno.make(text, error="m", mask=MASK, micro=False)


def svg_data_uri(text: str) -> str:
    """An SVG data URI a page puts in an <img src>."""
    return qr(text).svg_data_uri(scale=4, border=2)  # type: ignore[no-any-return]


def png(text: str, *, scale: int = 8, border: int = 4) -> bytes:
    """A PNG image of the QR code."""
    out = io.BytesIO()
    qr(text).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()
