"""A contact-sheet picture of a two-person motion, drawn in pure numpy and written as PNG: stick figures
seen from the side and from above at evenly spaced frames, person A in orange and person B in blue, so the
interaction can be seen without opening Blender."""

import struct
import zlib

import numpy as np

from ..server.motion import skeleton as sk

COLOURS = (np.array([230, 120, 30], np.uint8), np.array([40, 110, 220], np.uint8))
BACKGROUND = np.array([250, 250, 248], np.uint8)
GRID = np.array([215, 215, 210], np.uint8)


def write_png(path, image):
    """image (H, W, 3) uint8 -> an 8-bit RGB PNG file."""
    h, w, _ = image.shape
    raw = b"".join(b"\x00" + image[y].tobytes() for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def _line(image, p0, p1, colour, width):
    h, w, _ = image.shape
    n = int(max(abs(p1[0] - p0[0]), abs(p1[1] - p0[1]))) + 1
    xs = np.linspace(p0[0], p1[0], n)
    ys = np.linspace(p0[1], p1[1], n)
    r = width // 2
    for dx in range(-r, r + 1):
        for dy in range(-r, r + 1):
            x = np.clip(np.round(xs + dx).astype(int), 0, w - 1)
            y = np.clip(np.round(ys + dy).astype(int), 0, h - 1)
            image[y, x] = colour


def _figure(image, points, colour, width):
    for child, parent in enumerate(sk.PARENTS):
        if parent >= 0:
            _line(image, points[parent], points[child], colour, width)


def contact_sheet(persons, frames=6, cell=220, margin=10):
    """persons: two (T, 22, 3) arrays in Blender coordinates (Z up, metres). Returns (H, W, 3) uint8: a row
    of side views (looking across the line between the two people) above a row of top views, at `frames`
    evenly spaced frames."""
    T = len(persons[0])
    picks = np.linspace(0, T - 1, frames).round().astype(int)
    between = persons[1][:, 0, :2].mean(0) - persons[0][:, 0, :2].mean(0)
    across = between / np.linalg.norm(between) if np.linalg.norm(between) > 0.1 else np.array([1.0, 0.0])
    normal = np.array([-across[1], across[0]])
    # per person and frame: (horizontal along the pair's line, depth across it, height)
    flat = [np.stack([p[..., :2] @ across, p[..., :2] @ normal, p[..., 2]], -1) for p in persons]
    allp = np.concatenate(flat)
    lo, hi = allp.min(axis=(0, 1)), allp.max(axis=(0, 1))
    span = max((hi - lo).max(), 1.0) * 1.1
    centre = (lo + hi) / 2
    scale = (cell - 2 * margin) / span
    image = np.empty((2 * cell, frames * cell, 3), np.uint8)
    image[:] = BACKGROUND
    for i, t in enumerate(picks):
        x0 = i * cell
        image[:, x0] = GRID
        image[cell - 1, :] = GRID
        for k, p in enumerate(flat):
            u = x0 + cell / 2 + (p[t, :, 0] - centre[0]) * scale
            side = np.stack([u, cell - margin - (p[t, :, 2] - lo[2]) * scale], -1)
            top = np.stack([u, cell + cell / 2 - (p[t, :, 1] - centre[1]) * scale], -1)
            _figure(image, side, COLOURS[k], 3)
            _figure(image, top, COLOURS[k], 2)
    return image
