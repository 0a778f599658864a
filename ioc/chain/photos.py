"""Photos handlers send back with their feedback: only real JPEG, PNG or WebP images, of a bounded size.

The type is read from the image itself (Pillow decodes it), never from the file name or the
browser's word for it, so an HTML page renamed ``.jpg`` is refused, and what is served back
is always one of these image types.
"""

from __future__ import annotations

import io

from PIL import Image, UnidentifiedImageError

from ioc.errors import ActionRefused

MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 40_000_000
TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}


def check_photo(data: bytes) -> str:
    """The photo's content type, or ActionRefused saying why it is not taken."""
    if not data:
        raise ActionRefused("the photo is empty", key="photo_empty")
    if len(data) > MAX_BYTES:
        raise ActionRefused(f"the photo is {len(data) / 1024 / 1024:.1f} MB; the limit is "
                            f"{MAX_BYTES // 1024 // 1024} MB", key="photo_big",
                            mb=f"{len(data) / 1024 / 1024:.1f}", limit=MAX_BYTES // 1024 // 1024)
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            if image.width * image.height > MAX_PIXELS:
                raise ActionRefused(f"the photo is {image.width}×{image.height} pixels; make it smaller",
                                    key="photo_pixels", width=image.width, height=image.height)
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ActionRefused("the file is not a JPEG, PNG or WebP image", key="photo_type") from None
    if kind not in TYPES:
        raise ActionRefused(f"a {kind} image is not taken; send a JPEG, PNG or WebP photo", key="photo_format",
                            format=kind)
    return TYPES[kind]
