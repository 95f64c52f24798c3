"""Joint positions -> bone orientations on the SMPL-22 skeleton, vectorised over frames.

Positions fix each bone's direction (swing) only; the twist about it comes from reference directions:
the hip line for the pelvis, the shoulder line for the chest (blended up the spine), the knee and elbow
hinge planes for the limbs when they bend, and otherwise the parent's twist carried down the chain.
Rest directions come from a rest pose (ours is a T-pose facing +Z, left = +X, Y up)."""

import numpy as np

from . import skeleton as sk
from .kinematics import rest_positions

J = sk.JOINT_INDEX
# Each non-leaf joint aims at one child; leaves (wrists, toes, head) keep their parent's orientation.
AIM_CHILD = {
    0: J["spine1"], 3: J["spine2"], 6: J["spine3"], 9: J["neck"], 12: J["head"],
    1: J["left_knee"], 2: J["right_knee"], 4: J["left_ankle"], 5: J["right_ankle"],
    7: J["left_foot"], 8: J["right_foot"],
    13: J["left_shoulder"], 14: J["right_shoulder"], 16: J["left_elbow"], 17: J["right_elbow"],
    18: J["left_wrist"], 19: J["right_wrist"],
}
# Hinge axes in the rest pose (the axis a bending limb rotates about), for thigh/shin and upper/forearm.
HINGES = {
    1: (4, (1.0, 0.0, 0.0)), 4: (4, (1.0, 0.0, 0.0)), 2: (5, (1.0, 0.0, 0.0)), 5: (5, (1.0, 0.0, 0.0)),
    16: (18, (0.0, -1.0, 0.0)), 18: (18, (0.0, -1.0, 0.0)), 17: (19, (0.0, 1.0, 0.0)), 19: (19, (0.0, 1.0, 0.0)),
}
# Spine twist: fraction of the shoulder line (vs the hip line) in each spine joint's reference.
SPINE_SHOULDER_SHARE = {0: 0.0, 3: 1 / 3, 6: 2 / 3, 9: 1.0}
X_AXIS = np.array([1.0, 0.0, 0.0])


def normalise(v, eps=1e-9):
    """Unit vectors along the last axis (np.linalg.norm's checks cost more than the sum on small arrays)."""
    return v / np.maximum(np.sqrt((v * v).sum(-1, keepdims=True)), eps)


def _cross(a, b):
    """np.cross for (..., 3) arrays, without its axis juggling (a large share of a solve's time)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def frames_from(primary, secondary):
    """Orthonormal frames (..., 3, 3): column 0 along primary, column 1 the part of secondary
    perpendicular to it, column 2 their cross product."""
    x = normalise(primary)
    y = normalise(secondary - (secondary * x).sum(-1, keepdims=True) * x)
    return np.stack([x, y, _cross(x, y)], axis=-1)


def _smoothstep(x, lo, hi):
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _depth(j):
    return len(sk.ancestors(j)) - 1


# aiming joints grouped by depth in the tree: a level needs only the rotations of the levels above it
AIM_LEVELS = [[j for j in AIM_CHILD if _depth(j) == d] for d in range(max(map(_depth, AIM_CHILD)) + 1)]
LEAVES = [j for j in range(sk.N_JOINTS) if j not in AIM_CHILD]


def world_rotations(positions, rest=None, joints=None):
    """Positions (T, 22, 3) -> world rotations (T, 22, 3, 3) that carry the rest pose's bone directions
    onto the posed ones (exactly for each joint's aimed child). Vectorised over frames and, level by level
    of the tree, over joints. With `joints`, only those and their ancestors are computed (the others are
    left zero)."""
    rest = rest_positions() if rest is None else np.asarray(rest, dtype=np.float64)
    p = np.asarray(positions, dtype=np.float64)
    T = p.shape[0]
    G = np.zeros((T, sk.N_JOINTS, 3, 3))
    hips = normalise(p[:, J["left_hip"]] - p[:, J["right_hip"]])
    shoulders = normalise(p[:, J["left_shoulder"]] - p[:, J["right_shoulder"]])
    needed = set(range(sk.N_JOINTS)) if joints is None else {a for j in joints for a in sk.ancestors(j)}
    for level in AIM_LEVELS:
        level = [j for j in level if j in needed]
        if not level:
            continue
        index = np.array(level)
        children = np.array([AIM_CHILD[j] for j in level])
        aim_rest = rest[children] - rest[index]
        flat = np.linalg.norm(aim_rest, axis=-1) < 1e-6  # zero-length bones (some rigs have them): no aim
        aim_rest[flat] = X_AXIS
        ref_rest = np.array([X_AXIS if j in SPINE_SHOULDER_SHARE else
                             np.asarray(HINGES[j][1]) if j in HINGES else _perpendicular(r)
                             for j, r in zip(level, aim_rest)])
        parents = [sk.PARENTS[j] for j in level]
        # the parent's twist carried down: the rest reference expressed through the parent's rotation
        carried = np.einsum("tkab,kb->tka", G[:, [max(q, 0) for q in parents]], ref_rest)
        ref = carried.copy()
        for k, j in enumerate(level):
            if j in SPINE_SHOULDER_SHARE:
                share = SPINE_SHOULDER_SHARE[j]
                ref[:, k] = (1 - share) * hips + share * shoulders
            elif j in HINGES:  # a bending limb twists about its hinge plane's normal
                mid = HINGES[j][0]  # the hinge joint (knee or elbow) of this limb
                upper = p[:, mid] - p[:, sk.PARENTS[mid]]
                lower = p[:, AIM_CHILD[mid]] - p[:, mid]
                normal = _cross(normalise(upper), normalise(lower))
                bend = np.linalg.norm(normal, axis=-1, keepdims=True)  # sin of the bend angle
                normal = normal * np.where((normal * carried[:, k]).sum(-1, keepdims=True) < 0, -1.0, 1.0)
                w = _smoothstep(bend, 0.05, 0.25)
                ref[:, k] = w * normalise(normal) + (1 - w) * carried[:, k]
        aim = p[:, children] - p[:, index]
        G[:, index] = frames_from(aim, ref) @ np.swapaxes(frames_from(aim_rest, ref_rest), -1, -2)
        for k, (j, q) in enumerate(zip(level, parents)):
            if flat[k]:
                G[:, j] = G[:, q] if q >= 0 else np.eye(3)
    for j in needed.intersection(LEAVES):  # leaves (wrists, toes, head) keep their parent's orientation
        G[:, j] = G[:, sk.PARENTS[j]]
    return G


def _perpendicular(v):
    """A fixed unit vector perpendicular to v (for joints with no natural twist reference)."""
    v = normalise(v)
    helper = np.array([0.0, 0.0, 1.0]) if abs(v[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    return normalise(helper - (helper @ v) * v)


def local_rotations(positions, rest=None):
    """Positions (T, 22, 3) -> SMPL-convention local rotations (T, 22, 3, 3): joint j's rotation relative
    to its parent, the one that turns the bones to j's children (index 0 is the root's world rotation)."""
    G = world_rotations(positions, rest)
    local = G.copy()
    for j, parent in enumerate(sk.PARENTS):
        if parent >= 0:
            local[:, j] = np.swapaxes(G[:, parent], -1, -2) @ G[:, j]
    return local
