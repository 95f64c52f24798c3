"""Physical clean-up of generated two-person motion: tracks without frame-to-frame noise, planted feet that
do not slide, nobody below the floor, two bodies that overlap pushed apart, and hands that should touch
touching. A small model's samples break all five now and then; its training data never does.

Positions (T, 22, 3) in the pair's frame, metres, Y up, floor at y = 0."""

import numpy as np

from . import bodies, contacts, feet, skeleton as sk
from .vectors import norm

PELVIS = sk.JOINT_INDEX["pelvis"]
SEPARATION_PASSES = 4  # a push along the pelvis line may leave part of a sideways overlap for the next pass
CLEARANCE = 0.005  # metres added to each push, so that smoothing never leaves a sliver of overlap
# Metres of upper-arm overlap left alone: pushing whole bodies apart to clear an arm wrapped around the
# partner undid embraces (2 of the default model's 5 hugs on held-out set A read as something else after it).
# Served overlap on that set, against the corpus's mean: 0 cm 0.03x, 1 cm 0.16x (one hug back), 2 cm 0.48x
# (two back), 3 cm 0.86x (no more).
ARM_ALLOWANCE = 0.02
# Standard deviation of the Gaussian that takes out a sample's frame-to-frame noise. The default model's
# samples, served, jitter 1.46x as much as the corpus on held-out set A; one 30 fps frame brings that to
# 0.81x and foot skating from 1.41x to 1.31x, for 0-3 points of the recognisers' top-1 (set A 70 -> 69 %,
# validation captions 81 -> 78 %); two frames smooth past the corpus (0.49x), half a frame leaves 1.25x.
SMOOTHING_SECONDS = 1 / 30


def smooth_envelope(x, radius=4):
    """A smooth upper envelope of x (T,): a running maximum, then a moving average over the same window.
    Never below x, so a correction by it is never short, and it ramps in and out instead of popping."""
    padded = np.pad(x, radius, mode="edge")
    peak = np.max(np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1), axis=-1)
    padded = np.pad(peak, radius, mode="edge")
    return np.convolve(padded, np.ones(2 * radius + 1) / (2 * radius + 1), mode="valid")


def smooth(p, fps, seconds=SMOOTHING_SECONDS):
    """Positions (T, ...) low-pass filtered in time by a Gaussian of `seconds` standard deviation, the ends
    padded with the end frames: a still pose stays exactly as it is, a steady walk keeps its pace."""
    sigma = seconds * fps
    radius = int(np.ceil(3 * sigma))
    if radius == 0 or len(p) < 2:
        return p.copy()
    weights = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    weights /= weights.sum()
    padded = np.pad(p, [(radius, radius)] + [(0, 0)] * (p.ndim - 1), mode="edge")
    return sum(w * padded[k:k + len(p)] for k, w in enumerate(weights))


def lift_above_floor(p):
    """Feet below the floor raised onto it by leg IK (`feet.raise_sunk_feet`); then the frames whose
    lowest joint is still below the floor (a foot the IK could not lift that far, a hand) raised, smoothly."""
    p = feet.raise_sunk_feet(p)
    sink = np.maximum(-p[..., 1].min(axis=1), 0.0)
    if not sink.any():
        return p
    out = p.copy()
    out[..., 1] += smooth_envelope(sink)[:, None]
    return out


def _apart(p1, p2):
    """(T, 3) horizontal unit vectors from person 1's pelvis to person 2's, smoothed over time; where the
    pelvises coincide, the clip's mean direction (or +X) stands in."""
    away = p2[:, PELVIS] - p1[:, PELVIS]
    away[:, 1] = 0.0
    length = norm(away)
    valid = length > 1e-3
    mean = away[valid].sum(0) if valid.any() else np.zeros(3)
    fallback = mean / norm(mean) if norm(mean) > 1e-6 else np.array([1.0, 0.0, 0.0])
    away = np.where(valid[:, None], away / np.maximum(length, 1e-9)[:, None], fallback)
    kernel = np.ones(5) / 5
    away = np.stack([np.convolve(np.pad(away[:, k], 2, mode="edge"), kernel, mode="valid") for k in range(3)], -1)
    length = norm(away)
    return np.where(length[:, None] > 1e-6, away / np.maximum(length, 1e-9)[:, None], fallback)


def separate(p1, p2, movable=(True, True)):
    """Push two overlapping bodies apart (upper arms may overlap by ARM_ALLOWANCE), horizontally along the
    line between their pelvises and smoothly in time, shared between the persons that may move. Frames
    without overlap (and their neighbours beyond the ramp) are left exactly as they were."""
    share = np.asarray(movable, dtype=float)
    if share.sum() == 0:
        return p1, p2
    share = share / share.sum()
    scales = (bodies.height_scale(p1), bodies.height_scale(p2))
    p1, p2 = p1.copy(), p2.copy()
    for _ in range(SEPARATION_PASSES):
        depth = bodies.penetration(p1, p2, scales, ARM_ALLOWANCE)
        if depth.max() <= 1e-4:
            break
        push = smooth_envelope(np.where(depth > 0, depth + CLEARANCE, 0.0))[:, None] * _apart(p1, p2)
        p1 -= share[0] * push[:, None]
        p2 += share[1] * push[:, None]
    return p1, p2


def clean_pair(p1, p2, fps, movable=(True, True), touch=None):
    """All the clean-ups on a pair at `fps`: smoothing (`smooth`), the push apart, then feet
    (`feet.plant_feet`) and the floor, then the push apart again, then the intended contact `touch` (a
    `contacts.Touch`) completed by the arms (`contacts.complete`); a person that may not move (the given
    partner of a reaction) is kept exactly. Smoothing comes first so that the exact corrections after it
    (planted feet, the floor, contacts) stay exact. Pushing first lets planting hold the feet through a push
    (pushed afterwards, a standing person slid with it: foot skating 0.210 -> 0.220 m/s on held-out set A);
    the second push clears a leg that planting moved into the partner, and is nearly always a no-op."""
    p1, p2 = (smooth(p, fps) if m else p for p, m in zip((p1, p2), movable))
    p1, p2 = separate(p1, p2, movable)
    p1, p2 = (lift_above_floor(feet.plant_feet(p, fps)) if m else p for p, m in zip((p1, p2), movable))
    p1, p2 = separate(p1, p2, movable)
    return contacts.complete(p1, p2, touch, fps, movable) if touch else (p1, p2)
