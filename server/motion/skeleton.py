"""The 22-joint SMPL body skeleton used by InterHuman and InterMask (standard SMPL order)."""

N_JOINTS = 22
FPS = 30

JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)
JOINT_INDEX = {name: i for i, name in enumerate(JOINT_NAMES)}

# Chains from the root outwards (right leg, left leg, spine, right arm, left arm), as the official code uses
# them for bone-length losses, graph edges and plotting.
KINEMATIC_CHAINS = (
    (0, 2, 5, 8, 11),
    (0, 1, 4, 7, 10),
    (0, 3, 6, 9, 12, 15),
    (9, 14, 17, 19, 21),
    (9, 13, 16, 18, 20),
)
# (parent, child) for the 21 bones, in chain order.
BONES = tuple((chain[i], chain[i + 1]) for chain in KINEMATIC_CHAINS for i in range(len(chain) - 1))

LEFT_JOINTS = (1, 4, 7, 10, 13, 16, 18, 20)
RIGHT_JOINTS = (2, 5, 8, 11, 14, 17, 19, 21)


def ancestors(j, parents=PARENTS):
    """Joint (or bone) j and those above it, nearest first, in a hierarchy given by parent indices."""
    out = []
    while j >= 0:
        out.append(int(j))
        j = parents[j]
    return out


def _mirror_permutation():
    perm = list(range(N_JOINTS))
    for left, right in zip(LEFT_JOINTS, RIGHT_JOINTS):
        perm[left], perm[right] = right, left
    return tuple(perm)


# joints[MIRROR_PERMUTATION] swaps every left joint with its right counterpart.
MIRROR_PERMUTATION = _mirror_permutation()

PELVIS, L_HIP, R_HIP = 0, 1, 2
# Foot-contact channels, in the order of the feature vector: left ankle, left foot, right ankle, right foot.
CONTACT_JOINTS = (7, 10, 8, 11)
CONTACT_HEIGHTS = (0.12, 0.05, 0.12, 0.05)  # metres above the floor
CONTACT_SPEED2 = 0.001  # squared displacement per frame, m^2
# Swapping left/right contact channels: (l_ankle, l_foot, r_ankle, r_foot) -> (r_ankle, r_foot, l_ankle, l_foot).
CONTACT_MIRROR_PERMUTATION = (2, 3, 0, 1)
