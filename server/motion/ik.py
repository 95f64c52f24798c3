"""Joint positions -> bone orientations on the SMPL-22 skeleton, vectorised over frames.

Positions fix each bone's direction (swing) only; the twist about it comes from reference directions:
the hip line for the pelvis, the shoulder line for the chest (blended up the spine), the knee and elbow
hinge planes for the limbs when they bend, and otherwise the parent's twist carried down the chain.
Rest directions come from a rest pose (ours is a T-pose facing +Z, left = +X, Y up)."""

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from . import skeleton as sk
from .kinematics import rest_positions
from .vectors import cross, dot, norm, normalise

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


def frames_from(primary, secondary):
    """Orthonormal frames (..., 3, 3): column 0 along primary, column 1 the part of secondary
    perpendicular to it, column 2 their cross product."""
    x = normalise(primary)
    y = normalise(secondary - dot(secondary, x)[..., None] * x)
    return np.stack([x, y, cross(x, y)], axis=-1)


def _smoothstep(x, lo, hi):
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _level(j):
    """A spine joint's twist reference comes from the hip and shoulder lines alone; every other joint's
    carries its parent's twist down, so it can be computed only a level after its parent."""
    return 0 if j in SPINE_SHOULDER_SHARE else _level(sk.PARENTS[j]) + 1


# aiming joints grouped so that a group needs only the rotations of the groups before it (parents first
# within a group, for zero-length bones that copy their parent's rotation)
AIM_LEVELS = [sorted((j for j in AIM_CHILD if _level(j) == d), key=lambda j: len(sk.ancestors(j)))
              for d in range(max(map(_level, AIM_CHILD)) + 1)]
LEAVES = [j for j in range(sk.N_JOINTS) if j not in AIM_CHILD]
_ANCESTORS = [sk.ancestors(j) for j in range(sk.N_JOINTS)]
_PARENTS = np.array(sk.PARENTS)


class _Group(NamedTuple):
    """What one group of aiming joints needs of the rest pose: fixed per rig, so worked out once."""
    index: np.ndarray  # the group's joints
    children: np.ndarray  # the joint each aims at
    flat: list  # positions in the group of zero-length bones (some rigs have them): no aim
    rest_frames: np.ndarray  # (k, 3, 3) transposed rest frames (aim, reference)
    spine: list  # positions of spine joints, and their shoulder share
    share: np.ndarray
    others: list  # positions of the other joints, their parents and rest references
    others_parents: np.ndarray
    others_ref: np.ndarray
    hinged: list  # positions within `others` of limbs that bend, the knees or elbows, and either side
    hinge_at: list
    hinged_mid: np.ndarray
    hinged_upper: np.ndarray
    hinged_lower: np.ndarray


@lru_cache(maxsize=64)
def _group(rest_bytes, level, basis_bytes):
    rest = np.frombuffer(rest_bytes).reshape(sk.N_JOINTS, 3)
    basis = np.frombuffer(basis_bytes).reshape(3, 3)
    index = np.array(level)
    children = np.array([AIM_CHILD[j] for j in level])
    aim_rest = rest[children] - rest[index]
    flat = norm(aim_rest) < 1e-6
    aim_rest[flat] = basis @ X_AXIS
    # the fixed references are model-space directions: taken into the basis, so the result is the same
    # rotation expressed in it
    ref_rest = np.array([basis @ X_AXIS if j in SPINE_SHOULDER_SHARE else basis @ HINGES[j][1] if j in HINGES
                         else basis @ _perpendicular(basis.T @ r) for j, r in zip(level, aim_rest)])
    spine = [k for k, j in enumerate(level) if j in SPINE_SHOULDER_SHARE]
    others = [k for k, j in enumerate(level) if j not in SPINE_SHOULDER_SHARE]
    hinged = [i for i, k in enumerate(others) if level[k] in HINGES]
    mid = np.array([HINGES[level[others[i]]][0] for i in hinged], dtype=int)
    return _Group(index, children, list(np.flatnonzero(flat)), np.swapaxes(frames_from(aim_rest, ref_rest), -1, -2),
                  spine, np.array([SPINE_SHOULDER_SHARE[level[k]] for k in spine])[:, None],
                  others, _PARENTS[index[others]], ref_rest[others],
                  hinged, [others[i] for i in hinged], mid, _PARENTS[mid], np.array([AIM_CHILD[m] for m in mid], dtype=int))


def world_rotations(positions, rest=None, joints=None, basis=None):
    """Positions (T, 22, 3) -> world rotations (T, 22, 3, 3) that carry the rest pose's bone directions
    onto the posed ones (exactly for each joint's aimed child). Vectorised over frames and, group by group
    (`AIM_LEVELS`), over joints. With `joints`, only those and their ancestors are computed (the others are
    left zero). With `basis` (3, 3), positions and rest are given in the axes `basis @ model` (Blender's:
    axes.MODEL_TO_BLENDER) and the rotations come out in them, exactly `basis @ R @ basis.T` of the model
    space's R, with no conversion of either."""
    rest = rest_positions() if rest is None else np.asarray(rest, dtype=np.float64)
    basis_bytes = np.ascontiguousarray(np.eye(3) if basis is None else basis, dtype=np.float64).tobytes()
    p = np.asarray(positions, dtype=np.float64)
    T = p.shape[0]
    G = np.zeros((T, sk.N_JOINTS, 3, 3))
    hips = normalise(p[:, J["left_hip"]] - p[:, J["right_hip"]])
    shoulders = normalise(p[:, J["left_shoulder"]] - p[:, J["right_shoulder"]])
    needed = set(range(sk.N_JOINTS)) if joints is None else {a for j in joints for a in _ANCESTORS[j]}
    rest_bytes = np.ascontiguousarray(rest).tobytes()
    for level in AIM_LEVELS:
        level = tuple(j for j in level if j in needed)
        if not level:
            continue
        g = _group(rest_bytes, level, basis_bytes)
        ref = np.empty((T, len(level), 3))
        if g.spine:
            ref[:, g.spine] = (1 - g.share) * hips[:, None] + g.share * shoulders[:, None]
        if g.others:
            # the parent's twist carried down: the rest reference expressed through the parent's rotation
            carried = np.einsum("tkab,kb->tka", G[:, g.others_parents], g.others_ref)
            ref[:, g.others] = carried
            if g.hinged:  # a bending limb twists about its hinge plane's normal
                normal = cross(normalise(p[:, g.hinged_mid] - p[:, g.hinged_upper]),
                               normalise(p[:, g.hinged_lower] - p[:, g.hinged_mid]))
                bend = norm(normal)[..., None]  # sin of the bend angle
                c = carried[:, g.hinged]
                normal = normal * np.where(dot(normal, c)[..., None] < 0, -1.0, 1.0)
                w = _smoothstep(bend, 0.05, 0.25)
                ref[:, g.hinge_at] = w * normalise(normal) + (1 - w) * c
        G[:, g.index] = frames_from(p[:, g.children] - p[:, g.index], ref) @ g.rest_frames
        for k in g.flat:
            q = sk.PARENTS[level[k]]
            G[:, level[k]] = G[:, q] if q >= 0 else np.eye(3)
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


def two_bone_ik(root, target, pole, a, b):
    """Middle-joint and end positions of a chain root -(a)- mid -(b)- end reaching for `target`, bending
    towards `pole`; a target out of reach gets a straight chain pointing at it. (T, 3) arrays."""
    d = target - root
    dist = norm(d)[..., None]
    reach = np.clip(dist, abs(a - b) + 1e-6, a + b - 1e-6)
    axis = normalise(d)
    side = pole - root
    side = normalise(side - dot(side, axis)[..., None] * axis)
    along = (a * a - b * b + reach * reach) / (2 * reach)
    height = np.sqrt(np.maximum(a * a - along * along, 0.0))
    mid = root + axis * along + side * height
    return mid, root + axis * reach


def reach_limb(p, root, mid, end, fix, goal):
    """Middle-joint and end positions, on the `fix` frames of positions p (T, 22, 3), of the limb root -
    mid - end reaching `goal` (one per fixed frame) by `two_bone_ik` with the limb's own per-frame bone
    lengths, bending towards where its middle joint was."""
    upper = norm(p[fix, mid] - p[fix, root])[:, None]
    lower = norm(p[fix, end] - p[fix, mid])[:, None]
    return two_bone_ik(p[fix, root], goal, p[fix, mid], upper, lower)
