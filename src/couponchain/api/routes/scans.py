"""Decoding QR codes from photos, for pages whose browser cannot decode them itself.

A terminal page posts a camera frame or an uploaded photo; the server finds
every QR code in it with zxing-cpp and returns their text. Nothing is stored.
"""

from __future__ import annotations

import io
from typing import Any

import zxingcpp
from fastapi import Request
from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, Field

from couponchain.api.bounds import body_limits, bounded_router
from couponchain.api.deps import CallerDep
from couponchain.errors import InvalidInput

router = bounded_router(prefix="/v1", tags=["scans"])

MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_PIXELS = 40_000_000
QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


class Decoded(BaseModel):
    codes: list[str] = Field(description="the text of every QR code found, in reading order")


def decode_qr(data: bytes) -> list[str]:
    """The texts of the QR codes in an image (PNG, JPEG, WebP, ...)."""
    if not data:
        raise InvalidInput("the image is empty", field="image")
    if len(data) > MAX_IMAGE_BYTES:
        raise InvalidInput(f"the image is over {MAX_IMAGE_BYTES} bytes", field="image")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_PIXELS:
                raise InvalidInput(f"the image has over {MAX_PIXELS} pixels", field="image")
            gray = image.convert("L")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise InvalidInput("not an image this server can read (PNG, JPEG, WebP, GIF)",
                           field="image") from None
    results = zxingcpp.read_barcodes(gray, formats=QR_ONLY)
    return [r.text for r in results if r.valid]


@router.post(
    "/qr-decodes", response_model=Decoded, summary="Read the QR codes in a photo",
    description="The request body is the image itself (`image/png`, `image/jpeg`, ...).",
    **body_limits(MAX_IMAGE_BYTES, openapi_extra={"requestBody": {"required": True, "content": {
        "image/*": {"schema": {"type": "string", "format": "binary"}}}}}),
)
async def qr_decodes(request: Request, caller: CallerDep) -> dict[str, Any]:
    del caller  # any participant may decode; the key keeps the endpoint from being public
    data = await request.body()
    return {"codes": decode_qr(data)}
