"""Seeded, smooth random motion on our rest skeleton, for property tests (no reference data needed)."""

import numpy as np

from server.motion import kinematics
from server.motion.rotations import matrix_to_rot6d


def axis_angle_to_matrix(v):
    """Rodrigues: rotation vectors (..., 3) -> matrices (..., 3, 3)."""
    angle = np.linalg.norm(v, axis=-1, keepdims=True)
    axis = v / np.maximum(angle, 1e-12)
    x, y, z = np.moveaxis(axis, -1, 0)
    zero = np.zeros_like(x)
    K = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(v.shape[:-1] + (3, 3))
    a = angle[..., None]
    return np.eye(3) + np.sin(a) * K + (1 - np.cos(a)) * K @ K


def random_person(rng, T=64, yaw=None, start=(0.0, 0.0), scale=1.0):
    """World tracks of one person: positions (T, 22, 3), local 6D rotations (T, 21, 6)."""
    t = np.linspace(0, 1, T)[:, None]
    phases = rng.uniform(0, 2 * np.pi, (22, 3))
    amps = rng.uniform(0.05, 0.5, (22, 3))
    freqs = rng.uniform(0.5, 2.0, (22, 3))
    rotvec = amps[None] * np.sin(2 * np.pi * freqs[None] * t[..., None] + phases[None])  # (T, 22, 3)
    yaw = rng.uniform(-np.pi, np.pi) if yaw is None else yaw
    rotvec[:, 0] = [0.0, yaw, 0.0] + 0.1 * rotvec[:, 0]
    local = axis_angle_to_matrix(rotvec)
    heading = np.array([np.sin(yaw), 0.0, np.cos(yaw)])
    root = np.array([start[0], 0.93 * scale, start[1]]) + heading * t * rng.uniform(0.2, 1.5)
    positions, _ = kinematics.forward_kinematics(local, root, kinematics.REST_OFFSETS * scale)
    positions[..., 1] += rng.uniform(-0.05, 0.05)  # an arbitrary floor offset
    return positions, matrix_to_rot6d(local[:, 1:])


def random_pair(seed, T=64):
    rng = np.random.default_rng(seed)
    p1 = random_person(rng, T, start=rng.uniform(-3, 3, 2))
    p2 = random_person(rng, T, start=rng.uniform(-3, 3, 2), scale=rng.uniform(0.85, 1.15))
    return p1, p2
