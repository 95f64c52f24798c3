"""The 262-d per-person InterHuman feature vector and its inverse.

Per frame: [positions 22x3 | velocities 22x3 | local 6D rotations of joints 1..21 (21x6) | foot contacts 4].
Positions are metres, Y up, in the pair's canonical frame: person 1 stands at the origin facing +Z at
frame 0 and person 2 is expressed in person 1's frame. Each person keeps its own floor (lowest joint = 0).
Velocities are forward differences, so T input frames give T - 1 feature frames."""

from dataclasses import dataclass

import numpy as np

from . import skeleton as sk
from .rotations import qbetween, qinv, qmul, qrot, yaw_quaternion

FEATURE_DIM = 262
POSITIONS = slice(0, 66)
VELOCITIES = slice(66, 132)
ROTATIONS = slice(132, 258)
CONTACTS = slice(258, 262)

# InterHuman raw files are Z up; this maps a raw point (x, y, z) to Y up (x, z, -y).
RAW_TO_Y_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]], dtype=np.float32)
RAW_POSITIONS = slice(0, 66)
RAW_ROTATIONS = slice(66, 192)


@dataclass
class Canonical:
    """One person brought to a canonical frame, and the transform that did it."""
    positions: np.ndarray  # (T, 22, 3), floor at 0, pelvis at the XZ origin, facing +Z at frame 0
    facing: np.ndarray  # (4,) yaw quaternion applied after the shift
    origin: np.ndarray  # (3,) frame-0 pelvis XZ (Y = 0) that was subtracted
    floor: float  # lowest Y that was subtracted

    def from_world(self, points):
        """Points (..., 3) in the frame the person was given in -> this canonical frame."""
        shifted = np.asarray(points, _F32) - self.origin - np.array([0.0, self.floor, 0.0], dtype=_F32)
        return qrot(np.broadcast_to(self.facing, shifted.shape[:-1] + (4,)), shifted)

    def to_world(self, points):
        """Points (..., 3) in this canonical frame -> the frame the person was given in."""
        back = qrot(np.broadcast_to(qinv(self.facing), np.shape(points)[:-1] + (4,)), np.asarray(points, _F32))
        return back + self.origin + np.array([0.0, self.floor, 0.0], dtype=_F32)


# The arithmetic below is float32 in the official operation order, so results match the official
# pipeline to rounding (velocity stds are ~0.007 m, which magnifies any difference 100x when normalised).
_F32 = np.float32


def canonicalise(positions):
    """Floor, origin and facing canonicalisation of one person's Y-up joint positions (T, 22, 3)."""
    p = np.array(positions, dtype=_F32)
    floor = p[..., 1].min()
    p[..., 1] -= floor
    origin = p[0, sk.PELVIS] * np.array([1, 0, 1], dtype=_F32)
    p = p - origin
    across = p[0, sk.R_HIP] - p[0, sk.L_HIP]
    across = across / np.sqrt((across ** 2).sum())
    forward = np.cross(np.array([0.0, 1.0, 0.0]), across.astype(np.float64))
    forward = (forward / np.sqrt((forward ** 2).sum())).astype(_F32)
    facing = qbetween(forward, np.array([0, 0, 1], dtype=_F32))
    return Canonical(qrot(facing, p), facing, origin, float(floor))


def foot_contacts(positions):
    """Contact flags (T - 1, 4): slow (squared step < 0.001 m^2) and low (below 12 cm ankle / 5 cm toe)."""
    feet = np.asarray(positions)[:, sk.CONTACT_JOINTS]  # (T, 4, 3)
    speed2 = ((feet[1:] - feet[:-1]) ** 2).sum(-1)
    low = feet[:-1, :, 1] < np.array(sk.CONTACT_HEIGHTS)
    return (speed2 < sk.CONTACT_SPEED2) & low


def features_from_positions(positions, rotations6d):
    """Positions (T, 22, 3) and local rotations (T, 21, 6) of one person -> features (T - 1, 262)."""
    positions = np.asarray(positions, dtype=_F32)
    T = positions.shape[0]
    if T < 2:
        raise ValueError(f"need at least 2 frames to compute velocities, got {T}")
    velocities = positions[1:] - positions[:-1]
    return np.concatenate([
        positions[:-1].reshape(T - 1, 66),
        velocities.reshape(T - 1, 66),
        np.asarray(rotations6d, dtype=_F32)[:-1].reshape(T - 1, 126),
        foot_contacts(positions).astype(_F32),
    ], axis=-1)


def place_in_frame(features, yaw, offset_xz):
    """Rotate positions and velocities by -yaw about +Y, then shift positions by (x, z).

    Person 2 is encoded in its own canonical frame first and moved into person 1's with this."""
    f = np.array(features, dtype=_F32)
    T = f.shape[0]
    q = qinv(yaw_quaternion(2.0 * yaw)).astype(_F32)  # the official code stores the half angle
    pos = qrot(q, f[:, POSITIONS].reshape(T, sk.N_JOINTS, 3))
    pos[..., [0, 2]] += np.asarray(offset_xz, dtype=_F32)
    f[:, POSITIONS] = pos.reshape(T, -1)
    f[:, VELOCITIES] = qrot(q, f[:, VELOCITIES].reshape(T, sk.N_JOINTS, 3)).reshape(T, -1)
    return f


def encode_pair(positions1, rotations1, positions2, rotations2):
    """Two people's Y-up world tracks -> their feature arrays in person 1's canonical frame.

    positionsN: (T, 22, 3) metres; rotationsN: (T, 21, 6) local rotations of joints 1..21.
    Each person keeps its own floor; person 2 then gets person 1's shift and yaw."""
    c1 = canonicalise(positions1)
    c2 = canonicalise(positions2)
    relative = qmul(c2.facing, qinv(c1.facing))
    half_yaw = np.arctan2(relative[2], relative[0])
    offset = qrot(c1.facing, c2.origin - c1.origin)[[0, 2]]
    f2 = features_from_positions(c2.positions, rotations2)
    return features_from_positions(c1.positions, rotations1), place_in_frame(f2, half_yaw, offset)


def raw_to_tracks(raw):
    """An InterHuman raw array (T, 192: Z-up positions | local 6D rotations) -> Y-up positions, rotations."""
    raw = np.asarray(raw, dtype=_F32)
    positions = raw[:, RAW_POSITIONS].reshape(-1, sk.N_JOINTS, 3) @ RAW_TO_Y_UP.T.astype(_F32)
    return positions, raw[:, RAW_ROTATIONS].reshape(-1, sk.N_JOINTS - 1, 6)


def encode_raw_pair(raw1, raw2):
    """The official InterHuman pipeline: two raw (T, 192) arrays -> two (T - 1, 262) feature arrays."""
    return encode_pair(*raw_to_tracks(raw1), *raw_to_tracks(raw2))


@dataclass
class Tracks:
    """What the features say about one person, ready for retargeting."""
    positions: np.ndarray  # (T, 22, 3) metres, Y up, pair frame
    rotations6d: np.ndarray  # (T, 21, 6)
    contacts: np.ndarray  # (T, 4) bool, channels as skeleton.CONTACT_JOINTS


def decode(features):
    """(T, 262) features -> joint tracks. Contacts are thresholded at 0.5 (the model predicts zeros for
    them, so generated motion usually needs `foot_contacts` recomputed from the positions)."""
    f = np.asarray(features, dtype=np.float32)
    T = f.shape[0]
    return Tracks(
        positions=f[:, POSITIONS].reshape(T, sk.N_JOINTS, 3),
        rotations6d=f[:, ROTATIONS].reshape(T, sk.N_JOINTS - 1, 6),
        contacts=f[:, CONTACTS] > 0.5,
    )


def positions_with_last_frame(features):
    """All T + 1 frames of positions: the T stored frames plus the last one rebuilt from its velocity."""
    f = np.asarray(features, dtype=np.float32)
    p = f[:, POSITIONS].reshape(-1, sk.N_JOINTS, 3)
    last = p[-1] + f[-1, VELOCITIES].reshape(sk.N_JOINTS, 3)
    return np.concatenate([p, last[None]], axis=0)
