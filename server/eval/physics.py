"""Physical plausibility of a two-person motion, with no learned evaluator: foot skating, ground
penetration, floating above the floor, penetration between the two bodies, jitter, and the distance at
intended contacts.

Input: two (T, 22, 3) position arrays in one frame, metres, Y up, floor at y = 0, at `fps`."""

from dataclasses import asdict, dataclass

import numpy as np

from ..motion import skeleton as sk
from ..motion.contacts import HANDS, INTENDED, closest_pair  # noqa: F401 (HANDS: part of this API)
from ..motion.bodies import height_scale, penetration as body_penetration  # noqa: F401 (part of this API)

FOOT_JOINTS = sk.CONTACT_JOINTS  # ankles and toes
FOOT_HEIGHTS = np.array(sk.CONTACT_HEIGHTS)


@dataclass
class Physics:
    foot_skate: float  # m/s: mean horizontal speed of feet while they are at floor contact height
    ground_penetration: float  # m: mean over frames of the deepest joint below the floor
    body_penetration: float  # m: mean over frames of the deepest overlap of the two bodies' capsules
    jitter: float  # m/s^3: mean magnitude of joint jerk
    contact_distance: float = float("nan")  # m: closest approach of the family's intended contact joints
    # m: mean over frames of the lowest joint's height above the floor. Nobody in the corpus leaves the
    # floor (0); a clean-up that lifts feet off it hides their skating (which counts only near the floor)
    floating: float = 0.0

    def as_dict(self):
        return asdict(self)


def foot_skate(p, fps):
    """Horizontal foot speed weighted by closeness to the floor (1 on the floor, 0 at the contact height)."""
    feet = p[:, FOOT_JOINTS]
    speed = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1) * fps
    height = np.minimum(feet[1:, :, 1], feet[:-1, :, 1])
    weight = np.clip(2.0 - 2.0 ** (height / FOOT_HEIGHTS), 0.0, 1.0)
    return float((speed * weight).sum() / max(weight.sum(), 1e-9))


def ground_penetration(p):
    return float(np.maximum(-p[..., 1].min(axis=1), 0.0).mean())


def floating(p):
    return float(np.maximum(p[..., 1].min(axis=1), 0.0).mean())


def jitter(p, fps):
    jerk = np.diff(p, n=3, axis=0) * fps ** 3
    return float(np.linalg.norm(jerk, axis=-1).mean()) if len(jerk) else 0.0


def closest_approach(x, y, joints_x, joints_y):
    """Closest distance over time (m) of any of `joints_x` (names) of person x to any of `joints_y` of y."""
    a = x[:, [sk.JOINT_INDEX[j] for j in joints_x]][:, :, None]
    b = y[:, [sk.JOINT_INDEX[j] for j in joints_y]][:, None]
    return float(np.linalg.norm(a - b, axis=-1).min())


def contact_distance(p1, p2, family):
    """Closest approach over time of the family's intended contact joints, in either role; NaN if none."""
    if family not in INTENDED:
        return float("nan")
    return closest_pair(p1, p2, INTENDED[family])[1]


def measure(p1, p2, fps, family=None):
    scales = (height_scale(p1), height_scale(p2))
    return Physics(
        foot_skate=(foot_skate(p1, fps) + foot_skate(p2, fps)) / 2,
        ground_penetration=(ground_penetration(p1) + ground_penetration(p2)) / 2,
        body_penetration=float(body_penetration(p1, p2, scales).mean()),
        jitter=(jitter(p1, fps) + jitter(p2, fps)) / 2,
        contact_distance=contact_distance(p1, p2, family) if family else float("nan"),
        floating=(floating(p1) + floating(p2)) / 2,
    )


def summarise(results):
    """Mean of each metric over many Physics results (NaN contact distances ignored)."""
    keys = Physics.__dataclass_fields__
    out = {}
    for k in keys:
        values = np.array([getattr(r, k) for r in results], dtype=float)
        out[k] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    return out
