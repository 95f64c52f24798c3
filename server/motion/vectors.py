"""Small vectors along the last axis, vectorised over leading axes. numpy's reductions over a length-3
axis (`(a * b).sum(-1)`, `np.linalg.norm(axis=-1)`) cost about three times an einsum on the arrays a
retarget works with, and a solve makes hundreds of them."""

import numpy as np


def dot(a, b):
    """Dot products along the last axis, (...)."""
    return np.einsum("...i,...i->...", a, b)


def norm(v):
    """Lengths along the last axis, (...)."""
    return np.sqrt(dot(v, v))


def normalise(v, eps=1e-9):
    """Unit vectors along the last axis (zero vectors stay zero)."""
    return v / np.maximum(norm(v), eps)[..., None]


def cross(a, b):
    """np.cross for (..., 3) arrays, without its axis juggling."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)
