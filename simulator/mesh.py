"""3D outputs for the simulator: a real binary glTF 2.0 (.glb) file, written byte by byte.

The mesh is a tetrahedron (4 vertices, 4 triangles, wound counter-clockwise seen from
outside, as glTF's front faces are) in one node of one scene, with one material whose
base colour is the mean colour of the job's input picture (grey without one), so a test
can tell the file was made from what it sent.

Layout (glTF 2.0 spec, "GLB File Format Specification"): a 12-byte header (magic
``glTF``, version 2, total length), then a JSON chunk padded with spaces to 4 bytes,
then a BIN chunk padded with zeros: the positions (float32 VEC3, with the min/max every
POSITION accessor must carry), then the indices (uint16 SCALAR).
"""
from __future__ import annotations

import io
import json
import struct

MAGIC, VERSION = 0x46546C67, 2                 # b"glTF" read as a little-endian uint32
JSON_CHUNK, BIN_CHUNK = 0x4E4F534A, 0x004E4942  # b"JSON", b"BIN\0"
FLOAT, UNSIGNED_SHORT = 5126, 5123
ARRAY_BUFFER, ELEMENT_ARRAY_BUFFER = 34962, 34963
TRIANGLES = 4
GREY = (0.5, 0.5, 0.5)

POSITIONS = ((0.5, 0.5, 0.5), (0.5, -0.5, -0.5), (-0.5, 0.5, -0.5), (-0.5, -0.5, 0.5))
TRIANGLE_INDICES = ((0, 1, 2), (0, 3, 1), (0, 2, 3), (1, 3, 2))   # outward, counter-clockwise


def srgb_to_linear(c: float) -> float:
    """glTF's baseColorFactor is linear; a picture's colour is sRGB."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def picture_colour(picture: bytes | None) -> tuple[float, float, float]:
    """The mean sRGB colour (0..1) of an encoded picture; grey without a readable one."""
    if not picture:
        return GREY
    from PIL import Image, ImageStat

    try:
        img = Image.open(io.BytesIO(picture)).convert("RGB")
    except Exception:
        return GREY
    r, g, b = ImageStat.Stat(img).mean
    return round(r / 255, 4), round(g / 255, 4), round(b / 255, 4)


def pad(data: bytes, filler: bytes) -> bytes:
    return data + filler * (-len(data) % 4)


def glb_bytes(colour: tuple[float, float, float] = GREY, name: str = "acme-mesh") -> bytes:
    """The whole .glb file: one scene, one node, one mesh of one indexed triangle list."""
    positions = b"".join(struct.pack("<3f", *p) for p in POSITIONS)
    indices = b"".join(struct.pack("<3H", *t) for t in TRIANGLE_INDICES)
    binary = pad(positions, b"\0") + indices
    lows = [min(p[i] for p in POSITIONS) for i in range(3)]
    highs = [max(p[i] for p in POSITIONS) for i in range(3)]
    doc = {
        "asset": {"version": "2.0", "generator": "runcomfy-simulator"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0, "name": name}],
        "meshes": [{"name": name, "primitives": [
            {"attributes": {"POSITION": 0}, "indices": 1, "material": 0, "mode": TRIANGLES}]}],
        "materials": [{"name": "picture colour", "pbrMetallicRoughness": {
            "baseColorFactor": [*(round(srgb_to_linear(c), 6) for c in colour), 1.0],
            "metallicFactor": 0.0, "roughnessFactor": 1.0}}],
        "buffers": [{"byteLength": len(binary)}],       # no uri: the GLB's own BIN chunk
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": len(positions), "target": ARRAY_BUFFER},
            {"buffer": 0, "byteOffset": len(pad(positions, b"\0")), "byteLength": len(indices),
             "target": ELEMENT_ARRAY_BUFFER}],
        "accessors": [
            {"bufferView": 0, "componentType": FLOAT, "count": len(POSITIONS), "type": "VEC3",
             "min": lows, "max": highs},
            {"bufferView": 1, "componentType": UNSIGNED_SHORT, "count": 3 * len(TRIANGLE_INDICES),
             "type": "SCALAR"}],
    }
    json_chunk = pad(json.dumps(doc, separators=(",", ":")).encode("utf-8"), b" ")
    bin_chunk = pad(binary, b"\0")
    body = (struct.pack("<2I", len(json_chunk), JSON_CHUNK) + json_chunk
            + struct.pack("<2I", len(bin_chunk), BIN_CHUNK) + bin_chunk)
    return struct.pack("<3I", MAGIC, VERSION, 12 + len(body)) + body
