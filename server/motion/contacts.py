"""Intended contacts, and completing them (not in the paper): where an interaction means two people touch
(hands meeting, a hand on the partner's shoulder or back) and a sample brings the joints close but not
together, the arm reaches the rest of the way.

A small model's hands that should meet stop short: the default model's stay 10-12 cm apart on held-out
prompts, against 0-3 cm in its corpus, because a contact of a tenth of a second is one token of its
token map. An animator keying a handshake needs the hands to meet; the arm closing the last few
centimetres by IK keeps the rest of the motion as sampled.

Positions (T, 22, 3) in one frame, metres, Y up."""

from dataclasses import dataclass

import numpy as np

from . import skeleton as sk
from .feet import runs
from .ik import reach_limb
from .vectors import norm, normalise

J = sk.JOINT_INDEX
HANDS = ("left_wrist", "right_wrist")
SHOULDERS = ("left_shoulder", "right_shoulder")
CHEST = ("spine3", "spine2")
ARMS = {J["left_wrist"]: (J["left_shoulder"], J["left_elbow"]),
        J["right_wrist"]: (J["right_shoulder"], J["right_elbow"])}

# A contact is completed only where the sample already comes this close (beyond its gap): farther apart,
# the motion is not reaching for the partner, and an arm stretched across the gap would be a new motion.
MAX_COMPLETION = 0.30  # metres
# The contact is held over the frames within this distance of the closest approach (the sample's own
# moment of touching), eased in and out over RAMP_SECONDS on each side.
HOLD_SLACK = 0.05  # metres
RAMP_SECONDS = 0.25


@dataclass(frozen=True)
class Touch:
    """One person's `reaching` joints touch one of the partner's `touched` joints, either person reaching;
    `gap` (m) is the distance between the two joints at contact in the synthetic corpus (wrist joints meet;
    a hand on a back or a chest stays a torso's depth from the spine joints)."""
    reaching: tuple
    touched: tuple
    gap: float = 0.0


# The synthetic corpus's families whose scripts make the persons touch (`server/synth/families.py`); the
# gaps are the medians over its validation clips of the closest approach of these joints.
INTENDED = {
    **{family: Touch(HANDS, HANDS) for family in (
        "handshake", "high_five", "fist_bump", "pass_object", "punch_block", "pull_by_hand", "help_stand_up",
        "slow_dance", "clap_together")},
    "pat_shoulder": Touch(HANDS, SHOULDERS, 0.03),
    "push": Touch(HANDS, CHEST, 0.17),
    "hug": Touch(HANDS, CHEST, 0.09),
}


def distances(x, y, joint_x, joint_y):
    """(T,) distance between person x's joint and person y's joint (names)."""
    return norm(x[:, J[joint_x]] - y[:, J[joint_y]])


def closest_pair(p1, p2, touch, movable=(True, True)):
    """The (reaching person, reaching joint, touched joint) whose joints come closest over the clip, among
    those an arm may close (the reaching person movable, or the touched joint a movable partner's hand),
    and that closest distance; None where there is none."""
    pair = (p1, p2)
    best = None
    for a in (0, 1):
        for ja in touch.reaching:
            for jb in touch.touched:
                if not (movable[a] or (jb in HANDS and movable[1 - a])):
                    continue
                d = float(distances(pair[a], pair[1 - a], ja, jb).min())
                if best is None or d < best[1]:
                    best = ((a, ja, jb), d)
    return best


def hold_weights(d, fps):
    """(T,) 1 over the run of frames within HOLD_SLACK of d's minimum that holds the minimum, easing
    (smoothstep) to 0 over RAMP_SECONDS on each side."""
    t_min = int(d.argmin())
    start, end = next((s, e) for s, e in runs(d <= d[t_min] + HOLD_SLACK) if s <= t_min < e)
    ramp = max(int(round(RAMP_SECONDS * fps)), 1)
    k = np.arange(len(d))
    outside = np.maximum(start - k, k - (end - 1)).clip(0)
    u = np.clip(1.0 - outside / (ramp + 1), 0.0, 1.0)
    return u * u * (3 - 2 * u)


def reach_arm(p, wrist, goal, weights):
    """p with the arm ending at `wrist` reaching `goal` (T, 3) on the frames where `weights` > 0, from the
    shoulder (`ik.reach_limb`). A goal out of reach gets a straight arm pointing at it."""
    shoulder, elbow = ARMS[wrist]
    fix = weights > 0
    out = p.copy()
    out[fix, elbow], out[fix, wrist] = reach_limb(p, shoulder, elbow, wrist, fix, goal[fix])
    return out


def complete(p1, p2, touch, fps, movable=(True, True)):
    """The pair with its closest intended contact closed to `touch.gap` around the moment the sample comes
    closest: where both joints are hands of movable persons each arm reaches half the way, otherwise the
    movable person's arm all of it. Nothing changes where the sample never comes within MAX_COMPLETION of
    the contact, or already touches; frames away from the contact are kept exactly."""
    found = closest_pair(p1, p2, touch, movable)
    if found is None:
        return p1, p2
    (a, ja, jb), closest = found
    if closest <= touch.gap or closest - touch.gap > MAX_COMPLETION:
        return p1, p2
    pair = [p1, p2]
    x, y = pair[a], pair[1 - a]
    offset = y[:, J[jb]] - x[:, J[ja]]
    d = norm(offset)
    weights = hold_weights(d, fps)
    held = weights >= 1.0
    # Outside the hold the joints may be far apart (approaching fast): close no more there than during it.
    amount = np.minimum(d - touch.gap, (d[held] - touch.gap).max()).clip(0.0)
    closing = (weights * amount)[:, None] * normalise(offset)
    share_x = 1.0 if not (jb in HANDS and movable[1 - a]) else (0.5 if movable[a] else 0.0)
    wanted = x[:, J[ja]] + share_x * closing
    if share_x > 0:
        pair[a] = reach_arm(x, J[ja], wanted, weights)
    if share_x < 1:
        # the partner's hand closes the rest, including what the reaching arm fell short by
        shortfall = wanted - pair[a][:, J[ja]]
        pair[1 - a] = reach_arm(y, J[jb], y[:, J[jb]] - (1 - share_x) * closing - shortfall, weights)
    return pair[0], pair[1]
