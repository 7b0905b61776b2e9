"""QR images of the codes and links the pages show.

The SVG a page shows (a phone's rotating prize code, a promotion's consent
code, a referral link) is made and drawn by zxing-cpp's writer, in C++:
0.8 ms a code against 5.8 ms for segno's pure-Python encoder and SVG writer
(measured here). A phone fetches a fresh code every 15 s, so under the prize
benchmark (200 terminals) drawing it with segno had been a fifth of the API
process's CPU, the largest single share.

The PNG (a coupon page's printable QR) is drawn by segno, with one fixed mask
pattern: left to choose, segno draws all eight masks and keeps the one its
penalty rules score best (8 ms a code against 0.9 ms). Every mask is a valid
QR code (ISO/IEC 18004, 7.8) and readers decode any of them. With two
independent encoders, the round-trip tests read both kinds of image back with
zxing-cpp's reader, photo-like ones included, and the browser test reads the
phone page's SVG from a screenshot.
"""

from __future__ import annotations

import base64
import io
import re

import segno
import zxingcpp

#: The mask pattern every PNG uses (see the module docstring).
MASK = 0
#: Pixels per module of the SVG; the page scales the image to fit anyway.
SVG_SCALE = 4
_SIZE = re.compile(r'<svg width="(\d+)" height="(\d+)"')


def qr(text: str) -> segno.QRCode:
    """The QR code of `text` at error-correction level M, as segno makes it."""
    return segno.make(text, error="m", mask=MASK, micro=False)


def svg(text: str) -> str:
    """The QR code of `text` at error-correction level M as an SVG document (a
    4-module quiet zone around it)."""
    symbol = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    drawn = symbol.to_svg(scale=SVG_SCALE)
    # The writer gives a fixed size and no viewBox; with one the image scales to the
    # box a page gives it instead of sitting in a corner of it.
    return _SIZE.sub(r'<svg width="\1" height="\2" viewBox="0 0 \1 \2"', drawn, count=1)


def svg_data_uri(text: str) -> str:
    """An SVG data URI a page puts in an <img src>."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg(text).encode()).decode()


def png(text: str, *, scale: int = 8, border: int = 4) -> bytes:
    """A PNG image of the QR code."""
    out = io.BytesIO()
    qr(text).save(out, kind="png", scale=scale, border=border)
    return out.getvalue()
