"""Prize codes survive a real QR round trip: segno draws the PNG and zxing-cpp's
writer the SVG a page shows; zxing-cpp's reader reads both.

Both a clean image and a photo-like one (rescaled, tilted, noisy, JPEG) must
give back the exact token, or a terminal could not read a phone's screen.
"""

from __future__ import annotations

import base64
import io
import random
import re

import pytest
import zxingcpp
from eth_account import Account
from eth_utils import keccak
from PIL import Image, ImageDraw, ImageFilter

from couponchain.domain import prize_codes as pc
from couponchain.web import qr

SIGNER = Account.from_key(keccak(text="couponchain prize qr signer"))
CONSUMER = Account.from_key(keccak(text="couponchain prize qr consumer")).address
NOW = 1_800_000_000
#: The QR version of a CCPZ2 code (246 characters, level M).
VERSION = 11


#: Stands in for the winner's claim signature (its bytes look as random as one).
CLAIM_SIGNATURE = keccak(text="claim r") + keccak(text="claim s") + b"\x1b"


def _token(award_id: int = 42, nonce: int = 7) -> str:
    return pc.issue_code(award_id, CONSUMER, NOW, 20, SIGNER.key, nonce=nonce,
                         claim_expiry=NOW + 86_400 + 900, claim_signature=CLAIM_SIGNATURE)


def _png(text: str, scale: int = 6) -> bytes:
    return qr.png(text, scale=scale, border=4)  # as the platform draws it


def _decode(image: Image.Image) -> list[str]:
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    return [r.text for r in found if r.valid]


def _photo_like(png: bytes, *, size: int, angle: float, noise: int, quality: int,
                seed: int) -> Image.Image:
    """The QR as a phone camera might see it: resampled, tilted, grainy, JPEG."""
    image = Image.open(io.BytesIO(png)).convert("L").resize((size, size), Image.BILINEAR)
    image = image.rotate(angle, resample=Image.BICUBIC, expand=True, fillcolor=255)
    rng = random.Random(seed)
    # Sum of three uniforms: a cheap, bounded stand-in for Gaussian sensor noise.
    grain = bytes(max(0, min(255, 128 + sum(rng.randint(-noise, noise) for _ in range(3)) // 3))
                  for _ in range(image.width * image.height))
    noisy = Image.frombytes("L", image.size, grain)
    image = Image.blend(image, noisy, 0.25).filter(ImageFilter.GaussianBlur(0.6))
    out = io.BytesIO()
    image.convert("RGB").save(out, format="JPEG", quality=quality)
    return Image.open(io.BytesIO(out.getvalue()))


def test_the_token_fits_the_documented_qr_version() -> None:
    token = _token()
    assert len(token) == 246
    assert qr.qr(token).version == VERSION


@pytest.mark.parametrize(("award_id", "nonce"), [(1, 0), (42, 7), (2**64 - 1, 2**64 - 1)])
def test_png_round_trip_gives_the_same_token(award_id: int, nonce: int) -> None:
    token = _token(award_id, nonce)
    assert _decode(Image.open(io.BytesIO(_png(token)))) == [token]
    checked = pc.verify_code(token, SIGNER.address, NOW)
    assert (checked.award_id, checked.nonce) == (award_id, nonce)


@pytest.mark.parametrize(("size", "angle", "noise", "quality"), [
    (180, 4.0, 60, 60),    # scaled down, tilted left
    (700, -6.5, 90, 45),   # scaled up, tilted right, grainier, harder JPEG
    (320, 2.0, 40, 75),
])
def test_photo_like_image_still_reads_the_same_token(size: int, angle: float, noise: int,
                                                      quality: int) -> None:
    token = _token()
    photo = _photo_like(_png(token), size=size, angle=angle, noise=noise, quality=quality,
                        seed=size)
    assert photo.format == "JPEG"
    assert _decode(photo) == [token]
    assert pc.verify_code(_decode(photo)[0], SIGNER.address, NOW + 10).award_id == 42


def _raster(svg: str) -> Image.Image:
    """The SVG drawn pixel for pixel: a white canvas and the path's black rectangles
    (zxing-cpp's writer draws each dark run as `Mx yhWvHh-WZ`)."""
    size = re.search(r'<svg width="(\d+)" height="(\d+)"', svg)
    assert size is not None
    image = Image.new("L", (int(size[1]), int(size[2])), 255)
    draw = ImageDraw.Draw(image)
    runs = [tuple(map(int, run)) for run in re.findall(r"M(\d+) (\d+)h(\d+)v(\d+)h-\d+Z", svg)]
    assert runs
    for x, y, w, h in runs:
        draw.rectangle((x, y, x + w - 1, y + h - 1), fill=0)
    return image


def test_the_svg_a_page_shows_reads_back_as_the_same_token() -> None:
    token = _token(7, 2**63)
    uri = qr.svg_data_uri(token)
    prefix = "data:image/svg+xml;base64,"
    assert uri.startswith(prefix)
    image = _raster(base64.b64decode(uri[len(prefix):]).decode())
    assert _decode(image) == [token]
    # And as a phone camera sees the screen.
    out = io.BytesIO()
    image.save(out, format="PNG")
    photo = _photo_like(out.getvalue(), size=300, angle=3.0, noise=60, quality=60, seed=3)
    assert _decode(photo) == [token]
