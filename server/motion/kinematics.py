"""Forward kinematics on the SMPL-22 skeleton, and our own rest skeleton.

REST_OFFSETS is a T-pose of our own measurement (not SMPL's template): model space, metres, Y up,
facing +Z, the person's left on +X; about 1.71 m tall with the pelvis 0.93 m above the floor."""

import numpy as np

from . import skeleton as sk

# Offset of each joint from its parent in the rest pose; the pelvis row is its position above the floor.
REST_OFFSETS = np.array([
    [0.000, 0.930, 0.000],    # pelvis
    [0.085, -0.075, -0.010],  # left_hip
    [-0.085, -0.075, -0.010],  # right_hip
    [0.000, 0.110, -0.020],   # spine1
    [0.010, -0.390, 0.005],   # left_knee
    [-0.010, -0.390, 0.005],  # right_knee
    [0.000, 0.130, 0.010],    # spine2
    [-0.005, -0.410, -0.030],  # left_ankle
    [0.005, -0.410, -0.030],  # right_ankle
    [0.000, 0.060, 0.010],    # spine3
    [0.020, -0.055, 0.130],   # left_foot
    [-0.020, -0.055, 0.130],  # right_foot
    [0.000, 0.210, -0.020],   # neck
    [0.075, 0.120, -0.010],   # left_collar
    [-0.075, 0.120, -0.010],  # right_collar
    [0.000, 0.100, 0.050],    # head
    [0.100, 0.035, -0.010],   # left_shoulder
    [-0.100, 0.035, -0.010],  # right_shoulder
    [0.260, 0.000, -0.010],   # left_elbow
    [-0.260, 0.000, -0.010],  # right_elbow
    [0.250, 0.000, 0.000],    # left_wrist
    [-0.250, 0.000, 0.000],   # right_wrist
])
HEAD_TOP_ABOVE_HEAD_JOINT = 0.17  # metres from the head joint to the crown, for height measurements


def rest_positions(offsets=REST_OFFSETS):
    """Joint positions (22, 3) of the rest pose."""
    out = np.zeros((sk.N_JOINTS, 3))
    for j, parent in enumerate(sk.PARENTS):
        out[j] = offsets[j] if parent < 0 else out[parent] + offsets[j]
    return out


def standing_height(offsets=REST_OFFSETS):
    """Floor to crown in the rest pose, metres."""
    p = rest_positions(offsets)
    return p[sk.JOINT_INDEX["head"], 1] + HEAD_TOP_ABOVE_HEAD_JOINT - p[:, 1].min()


def forward_kinematics(local_rotations, root_positions, offsets=REST_OFFSETS):
    """Local rotation matrices (T, 22, 3, 3) (joint j rotates the bones to its children) and root
    positions (T, 3) -> joint positions (T, 22, 3) and global rotations (T, 22, 3, 3)."""
    T = local_rotations.shape[0]
    positions = np.zeros((T, sk.N_JOINTS, 3))
    world = np.zeros((T, sk.N_JOINTS, 3, 3))
    for j, parent in enumerate(sk.PARENTS):
        if parent < 0:
            positions[:, j] = root_positions
            world[:, j] = local_rotations[:, j]
        else:
            positions[:, j] = positions[:, parent] + world[:, parent] @ offsets[j]
            world[:, j] = world[:, parent] @ local_rotations[:, j]
    return positions, world
