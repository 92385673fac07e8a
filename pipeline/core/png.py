"""The one PNG codec: stored items, simulated photos, concepts and sample grids alike.

zlib's RLE strategy suits these images (flat backdrops around one garment): it encodes
faster than the default strategy at about the same size (benchmarks/results/png.md).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, UnidentifiedImageError

COMPRESS_LEVEL = 3
ZLIB_RLE = 3


def encode(image: Image.Image | np.ndarray) -> bytes:
    """A Pillow image, or uint8 pixels (H, W), (H, W, 1) or (H, W, 3), as PNG bytes."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[-1] == 1
                                else image)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=COMPRESS_LEVEL, compress_type=ZLIB_RLE)
    return out.getvalue()


def decode(data: bytes, channels: int = 3) -> np.ndarray:
    """PNG (or any Pillow format) bytes -> writable uint8 (H, W, channels); ValueError when
    the bytes do not decode."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            pixels = np.array(image.convert("L" if channels == 1 else "RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise ValueError(f"cannot decode stored image: {err}") from None
    return pixels[..., None] if channels == 1 else pixels


# -- marking generated images -----------------------------------------------------------------

# IPTC's digital source type for "created by a model trained on sampled content"; XMP in a
# PNG lives in an iTXt chunk with this keyword, where exiftool, Pillow and content-credential
# tools look for it.
TRAINED_ALGORITHMIC_MEDIA = ("http://cv.iptc.org/newscodes/digitalsourcetype/"
                             "trainedAlgorithmicMedia")
XMP_KEYWORD = b"XML:com.adobe.xmp"
STYLECAST_XMP_NS = "urn:stylecast:xmp:1.0/"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def xmp_packet(model: str, made_id: str) -> str:
    """The XMP that marks an image as generated, by which model, as which design/concept."""
    from xml.sax.saxutils import quoteattr

    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" '
            'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
            f'xmlns:stylecast="{STYLECAST_XMP_NS}" '
            f'Iptc4xmpExt:DigitalSourceType="{TRAINED_ALGORITHMIC_MEDIA}" '
            f'stylecast:Model={quoteattr(model)} stylecast:Id={quoteattr(made_id)}/>'
            '</rdf:RDF></x:xmpmeta><?xpacket end="r"?>')


def label_generated(data: bytes, model: str, made_id: str) -> bytes:
    """PNG bytes with an XMP chunk saying a trained model made them (pixels untouched: the
    chunk goes in after the header, any earlier XMP chunk is dropped)."""
    import struct
    import zlib

    if not data.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG")
    text = XMP_KEYWORD + b"\0\0\0" + b"\0" + b"\0" + xmp_packet(model, made_id).encode()
    chunk = (struct.pack(">I", len(text)) + b"iTXt" + text
             + struct.pack(">I", zlib.crc32(b"iTXt" + text) & 0xFFFFFFFF))
    chunks, at = [], len(PNG_SIGNATURE)
    while at < len(data):
        length = struct.unpack(">I", data[at:at + 4])[0]
        end = at + 12 + length
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        if not (kind == b"iTXt" and body.startswith(XMP_KEYWORD + b"\0")):
            chunks.append(data[at:end])
        at = end
    return PNG_SIGNATURE + chunks[0] + chunk + b"".join(chunks[1:])
