"""Quaternion (w, x, y, z) and 6D-rotation helpers, vectorised over leading axes.

6D layout (InterHuman): the first two columns of the rotation matrix, flattened row-major,
i.e. [R00, R01, R10, R11, R20, R21]. Mirroring across X negates components 1, 2 and 4."""

import numpy as np

from .vectors import dot


def qmul(q, r):
    """Hamilton product q * r."""
    w0, x0, y0, z0 = np.moveaxis(q, -1, 0)
    w1, x1, y1, z1 = np.moveaxis(r, -1, 0)
    return np.stack((
        w0 * w1 - x0 * x1 - y0 * y1 - z0 * z1,
        w0 * x1 + x0 * w1 + y0 * z1 - z0 * y1,
        w0 * y1 - x0 * z1 + y0 * w1 + z0 * x1,
        w0 * z1 + x0 * y1 - y0 * x1 + z0 * w1,
    ), axis=-1)


def qinv(q):
    """Inverse of a unit quaternion (its conjugate)."""
    return q * np.array([1.0, -1.0, -1.0, -1.0], dtype=q.dtype)


def qrot(q, v):
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4); q broadcasts against v."""
    w = q[..., :1]
    u = q[..., 1:]
    uv = np.cross(u, v)
    return v + 2.0 * (w * uv + np.cross(u, uv))


def qbetween(a, b):
    """The shortest-arc unit quaternion rotating direction a onto direction b."""
    axis = np.cross(a, b)
    w = np.sqrt((a ** 2).sum(-1) * (b ** 2).sum(-1)) + (a * b).sum(-1)
    q = np.concatenate([w[..., None], axis], axis=-1)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    # opposite directions: a half turn about the part of Y perpendicular to a (so a horizontal a turns
    # about the vertical, keeping the person upright), or about X when a is vertical
    opposite = norm[..., 0] <= 1e-6 * np.sqrt((a ** 2).sum(-1) * (b ** 2).sum(-1))
    if np.any(opposite):
        a_op = np.broadcast_to(a, q[..., 1:].shape)[opposite]
        a_op = a_op / np.linalg.norm(a_op, axis=-1, keepdims=True)
        axis = np.zeros_like(a_op)
        axis[:, 1] = 1.0
        axis[np.abs(a_op[:, 1]) > 0.99] = [1.0, 0.0, 0.0]
        axis = axis - (axis * a_op).sum(-1, keepdims=True) * a_op
        q = q.copy()
        q[opposite] = np.concatenate([np.zeros((len(axis), 1)), axis], axis=-1).astype(q.dtype)
        norm = np.linalg.norm(q, axis=-1, keepdims=True)
    return q / norm


def yaw_quaternion(angle):
    """Rotation by `angle` radians about +Y (model up)."""
    angle = np.asarray(angle, dtype=np.float64)
    zero = np.zeros_like(angle)
    return np.stack((np.cos(angle / 2), zero, np.sin(angle / 2), zero), axis=-1)


def quaternion_to_matrix(q):
    w, x, y, z = np.moveaxis(q, -1, 0)
    m = np.stack((
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ), axis=-1)
    return m.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion(m):
    """Rotation matrices (..., 3, 3) -> unit quaternions with w >= 0 (Shepperd's method, branch-free).

    Row i of the symmetric 4x4 matrix K below is the quaternion times 4 q_i (row 0: 4w (w, x, y, z), ...);
    the row with the largest diagonal, 4 q_i^2, is the best conditioned, and normalised it is the
    quaternion. K is built with components first: per-element gathers cost several times more."""
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    a = m[..., 2, 1] - m[..., 1, 2]
    b = m[..., 0, 2] - m[..., 2, 0]
    c = m[..., 1, 0] - m[..., 0, 1]
    d = m[..., 0, 1] + m[..., 1, 0]
    e = m[..., 0, 2] + m[..., 2, 0]
    f = m[..., 1, 2] + m[..., 2, 1]
    K = np.stack((1 + m00 + m11 + m22, a, b, c, a, 1 + m00 - m11 - m22, d, e,
                  b, d, 1 - m00 + m11 - m22, f, c, e, f, 1 - m00 - m11 + m22)).reshape((4, 4) + m.shape[:-2])
    best = np.argmax(K[[0, 1, 2, 3], [0, 1, 2, 3]], axis=0)
    q = np.where(best == 0, K[0], np.where(best == 1, K[1], np.where(best == 2, K[2], K[3])))
    q = q * (np.where(q[0] < 0, -1.0, 1.0) / np.sqrt((q * q).sum(0)))
    return np.moveaxis(q, 0, -1)


def rot6d_to_matrix(r6):
    """6D (InterHuman layout) -> rotation matrices by Gram-Schmidt; (..., 6) -> (..., 3, 3)."""
    a = r6[..., 0::2]  # column 0: (R00, R10, R20)
    b = r6[..., 1::2]  # column 1: (R01, R11, R21)
    c0 = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b - (c0 * b).sum(-1, keepdims=True) * c0
    c1 = b / np.linalg.norm(b, axis=-1, keepdims=True)
    c2 = np.cross(c0, c1)
    return np.stack((c0, c1, c2), axis=-1)


def matrix_to_rot6d(m):
    """Rotation matrices (..., 3, 3) -> 6D in the InterHuman layout."""
    return m[..., :, :2].reshape(m.shape[:-2] + (6,))


def make_continuous(q, axis=0):
    """Flip quaternion signs along `axis` so consecutive quaternions lie in the same hemisphere."""
    q = np.moveaxis(np.array(q, copy=True), axis, 0)
    dots = dot(q[1:], q[:-1])
    # Each flip changes the sign of everything after it, so accumulate the parity of flips.
    flips = np.cumsum(dots < 0, axis=0) % 2
    q[1:] *= np.where(flips[..., None] == 1, -1.0, 1.0)
    return np.moveaxis(q, 0, axis)
