"""Pictures of a two-person motion drawn in pure numpy (so they work in Blender's own Python): a contact
sheet written as PNG and a preview movie written as animated PNG. Stick figures seen from the side and from
above, person A in orange and person B in blue, so the interaction can be seen without opening Blender."""

import struct
import zlib

import numpy as np

from ..server.motion import skeleton as sk

COLOURS = (np.array([230, 120, 30], np.uint8), np.array([40, 110, 220], np.uint8))
BACKGROUND = np.array([250, 250, 248], np.uint8)
GRID = np.array([215, 215, 210], np.uint8)


def _chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _scanlines(image):
    return zlib.compress(b"".join(b"\x00" + row.tobytes() for row in image), 6)


def _header(image):
    h, w, _ = image.shape
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))


def write_png(path, image):
    """image (H, W, 3) uint8 -> an 8-bit RGB PNG file."""
    with open(path, "wb") as f:
        f.write(_header(image) + _chunk(b"IDAT", _scanlines(image)) + _chunk(b"IEND", b""))


def write_apng(path, images, fps):
    """Frames (H, W, 3) uint8 of one size -> an animated PNG looping at `fps` (browsers and most viewers
    play it; other programs show the first frame)."""
    h, w, _ = images[0].shape
    out = [_header(images[0]), _chunk(b"acTL", struct.pack(">II", len(images), 0))]
    sequence = 0
    for i, image in enumerate(images):
        out.append(_chunk(b"fcTL", struct.pack(">IIIIIHHBB", sequence, w, h, 0, 0, 1, int(fps), 0, 0)))
        sequence += 1
        if i == 0:
            out.append(_chunk(b"IDAT", _scanlines(image)))
        else:
            out.append(_chunk(b"fdAT", struct.pack(">I", sequence) + _scanlines(image)))
            sequence += 1
    out.append(_chunk(b"IEND", b""))
    with open(path, "wb") as f:
        f.write(b"".join(out))


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


class _View:
    """One projection for the whole clip, so figures keep their place from frame to frame: horizontal along
    the line between the two people, depth across it, height."""

    def __init__(self, persons, cell, margin):
        between = persons[1][:, 0, :2].mean(0) - persons[0][:, 0, :2].mean(0)
        across = between / np.linalg.norm(between) if np.linalg.norm(between) > 0.1 else np.array([1.0, 0.0])
        normal = np.array([-across[1], across[0]])
        self.flat = [np.stack([p[..., :2] @ across, p[..., :2] @ normal, p[..., 2]], -1) for p in persons]
        allp = np.concatenate(self.flat)
        self.lo, hi = allp.min(axis=(0, 1)), allp.max(axis=(0, 1))
        self.centre = (self.lo + hi) / 2
        self.scale = (cell - 2 * margin) / (max((hi - self.lo).max(), 1.0) * 1.1)
        self.cell, self.margin = cell, margin

    def draw(self, picks):
        """A side view above a top view for each frame in `picks`, left to right -> (2 cell, n cell, 3)."""
        cell, margin = self.cell, self.margin
        image = np.empty((2 * cell, len(picks) * cell, 3), np.uint8)
        image[:] = BACKGROUND
        for i, t in enumerate(picks):
            x0 = i * cell
            image[:, x0] = GRID
            image[cell - 1, :] = GRID
            for k, p in enumerate(self.flat):
                u = x0 + cell / 2 + (p[t, :, 0] - self.centre[0]) * self.scale
                side = np.stack([u, cell - margin - (p[t, :, 2] - self.lo[2]) * self.scale], -1)
                top = np.stack([u, cell + cell / 2 - (p[t, :, 1] - self.centre[1]) * self.scale], -1)
                _figure(image, side, COLOURS[k], 3)
                _figure(image, top, COLOURS[k], 2)
        return image


def contact_sheet(persons, frames=6, cell=220, margin=10):
    """persons: two (T, 22, 3) arrays in Blender coordinates (Z up, metres). Returns (H, W, 3) uint8: a row
    of side views above a row of top views at `frames` evenly spaced frames."""
    picks = np.linspace(0, len(persons[0]) - 1, frames).round().astype(int)
    return _View(persons, cell, margin).draw(picks)


def movie(persons, every=2, cell=200, margin=10):
    """Frames of a preview movie: every `every`-th frame, side view above top view."""
    view = _View(persons, cell, margin)
    return [view.draw([t]) for t in range(0, len(persons[0]), every)]
