"""A body as capsules around its bones, for overlap between two people: measured by the evaluation's
physical metrics and resolved by the clean-up of generated motion.

Positions (T, 22, 3) in metres, Y up."""

import numpy as np

from . import skeleton as sk
from .vectors import dot, norm

# Capsule radii (metres, for a 1.7 m person) of the bones.
_RADII = {"pelvis": 0.11, "spine1": 0.11, "spine2": 0.12, "spine3": 0.12, "neck": 0.06, "head": 0.09,
          "hip": 0.07, "knee": 0.055, "ankle": 0.045, "collar": 0.05, "shoulder": 0.045, "elbow": 0.04}


def _bone_radius(child):
    name = sk.JOINT_NAMES[child].replace("left_", "").replace("right_", "")
    return _RADII.get(name, 0.04)


# (parent, child, radius) per capsule. Forearms are left out: hands are meant to touch in many
# interactions, and wrists that meet make their forearm capsules overlap by design.
CAPSULES = [(sk.PARENTS[j], j, _bone_radius(j)) for j in range(1, sk.N_JOINTS) if sk.JOINT_NAMES[j] not in
            ("left_foot", "right_foot", "left_collar", "right_collar", "left_hip", "right_hip",
             "left_wrist", "right_wrist")]
CAPSULES.append((sk.JOINT_INDEX["head"], sk.JOINT_INDEX["head"], 0.1))  # the skull around the head joint


def segment_distances(a0, a1, b0, b1):
    """Closest distances between segment sets, broadcast: a* (..., 3), b* (..., 3)."""
    u, v, w = a1 - a0, b1 - b0, a0 - b0
    a, b, c = dot(u, u), dot(u, v), dot(v, v)
    d, e = dot(u, w), dot(v, w)
    den = a * c - b * b
    s = np.where(den > 1e-12, np.clip((b * e - c * d) / np.maximum(den, 1e-12), 0, 1), 0.0)
    t = np.where(c > 1e-12, np.clip((b * s + e) / np.maximum(c, 1e-12), 0, 1), 0.0)
    s = np.where(a > 1e-12, np.clip((b * t - d) / np.maximum(a, 1e-12), 0, 1), 0.0)
    return norm(w + u * s[..., None] - v * t[..., None])


_I0, _I1, _R = (np.array(x) for x in zip(*CAPSULES))
_JOINTS = np.union1d(_I0, _I1)
# Upper arms: what wraps around a partner in a hug or presses on them in a push (the corpus's hugs overlap
# there by up to 6.5 cm: a capsule is a coarse arm, and arms squeeze).
_UPPER_ARM = np.array([sk.JOINT_NAMES[child].endswith("_elbow") for _, child, _ in CAPSULES])


def _bounding_radius(p, scale):
    """Per frame, the radius of a sphere about the pelvis that holds every capsule of the body."""
    return norm(p[:, _JOINTS] - p[:, :1]).max(-1) + _R.max() * scale


def penetration(p1, p2, scales=(1.0, 1.0), arm_allowance=0.0):
    """Per frame (T,), the deepest overlap between any capsule of one body and any of the other, less
    `arm_allowance` (metres) where an upper arm is one of the two."""
    depth = np.zeros(len(p1))
    # only frames whose bounding spheres meet can overlap: people apart cost nothing
    near = norm(p1[:, 0] - p2[:, 0]) <= _bounding_radius(p1, scales[0]) + _bounding_radius(p2, scales[1])
    if near.any():
        a0, a1 = p1[near][:, _I0, None], p1[near][:, _I1, None]
        b0, b1 = p2[near][:, None, _I0], p2[near][:, None, _I1]
        dist = segment_distances(a0, a1, b0, b1)  # (T', n, n)
        overlap = (_R[:, None] * scales[0] + _R[None, :] * scales[1]) - dist
        if arm_allowance:
            overlap = overlap - arm_allowance * (_UPPER_ARM[:, None] | _UPPER_ARM[None, :])
        depth[near] = np.maximum(overlap.max(axis=(1, 2)), 0.0)
    return depth


def height_scale(p):
    """A person's size relative to 1.7 m, from the rest-independent head-to-ankle extent."""
    extent = p[:, sk.JOINT_INDEX["head"], 1] - np.minimum(p[:, 7, 1], p[:, 8, 1])
    return float(np.clip(np.percentile(extent, 90) / 1.45, 0.6, 1.4))
