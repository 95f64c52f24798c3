"""Planted feet for joint tracks: a foot resting on the floor is held in one place and the leg follows it by
two-bone IK. A small model's stance feet drift (foot skating); its training data's never do.

Positions (T, 22, 3), metres, Y up, floor at y = 0."""

import numpy as np

from . import skeleton as sk
from .ik import reach_limb
from .vectors import norm, normalise

J = sk.JOINT_INDEX
LEGS = ((J["left_hip"], J["left_knee"], J["left_ankle"], J["left_foot"]),
        (J["right_hip"], J["right_knee"], J["right_ankle"], J["right_foot"]))
# Slower than this at contact height, a foot counts as planted. The corpus's low feet are either still
# (83 % of frames) or swinging at > 0.5 m/s; the default model's drifting stance feet move at 0.05-0.3 m/s.
PLANT_SPEED = 0.4  # m/s
MIN_HOLD_SECONDS = 0.15  # shorter runs are a foot passing low mid-step, not standing
BLEND_SECONDS = 0.2  # a hold eases in and out over this time on each side
STEP_CLEARANCE = 0.08  # metres: a foot stepping between two holds rises on an arc at most this high
FOOT_RAISE_LIMIT = 0.03  # metres: a foot this far below the floor is raised by its leg, deeper by the body
GLIDE_SECONDS = 0.6  # a foot low and moving this long without a stance is gliding, not stepping
# The corpus's gait by pelvis pace (m/s): the step cycle (s) and the share of it each foot stands, medians
# over 4,800 cycles of its walkers and runners (planted runs at 30 fps; `tests/test_feet.py` measures it
# again). Put-in stances follow it.
GAIT_PACE = (1.0, 1.5, 1.8)
GAIT_CYCLE = (0.87, 0.80, 0.55)
GAIT_DUTY = (0.62, 0.55, 0.50)


def runs(flags):
    """(start, end) of each run of True in a 1-D bool array, end exclusive."""
    padded = np.concatenate([[False], flags, [False]]).astype(int)
    change = np.flatnonzero(np.diff(padded))
    return list(zip(change[::2], change[1::2]))


def foot_motion(p, fps):
    """(T, 4) horizontal speeds (central differences) of the `skeleton.CONTACT_JOINTS`, and (T, 4) bool: at
    contact height."""
    feet = p[:, list(sk.CONTACT_JOINTS)]
    speed = norm(np.gradient(feet[..., [0, 2]], axis=0)) * fps if len(p) > 1 else np.zeros(feet.shape[:2])
    return speed, feet[..., 1] < np.array(sk.CONTACT_HEIGHTS)


def planted(p, fps):
    """(T, 4) bool in `skeleton.CONTACT_JOINTS` order: the foot joint is at contact height and moving
    horizontally slower than PLANT_SPEED, for at least MIN_HOLD_SECONDS."""
    speed, low = foot_motion(p, fps)
    still = low & (speed < PLANT_SPEED)
    shortest = MIN_HOLD_SECONDS * fps
    for channel in range(still.shape[1]):
        for start, end in runs(still[:, channel]):
            if end - start < shortest:
                still[start:end, channel] = False
    return still


def paced_steps(p, fps, still):
    """(T, 4) bool: stances put into a foot that glides, one that stays at contact height moving faster than
    PLANT_SPEED for at least GLIDE_SECONDS. A small model's running has no steps: its feet slide along the
    floor with the body (the default model's chases skate at 1.33 m/s on held-out set A, the corpus's at
    0.88). The two legs take turns on one step cycle at the corpus's gait for the pelvis's pace (`GAIT_*`:
    half a cycle apart, each standing its duty share of it), so that each stance is held in place and each
    swing lifted like a step (`plant_feet`)."""
    out = np.zeros_like(still)
    if len(p) < 2:
        return out
    speed, low = foot_motion(p, fps)
    pelvis = norm(np.gradient(p[:, J["pelvis"], [0, 2]], axis=0)) * fps
    pace = np.convolve(np.pad(pelvis, 7, mode="edge"), np.ones(15) / 15, mode="valid")  # half a second
    phase = np.cumsum(1.0 / (np.interp(pace, GAIT_PACE, GAIT_CYCLE) * fps))  # in cycles
    duty = np.interp(pace, GAIT_PACE, GAIT_DUTY)
    for leg, (ankle, toe) in enumerate(((0, 1), (2, 3))):
        gliding = (low[:, ankle] | low[:, toe]) & ~(still[:, ankle] | still[:, toe])
        turn = (phase + 0.5 * leg) % 1.0 < duty
        for start, end in runs(gliding):
            if end - start >= GLIDE_SECONDS * fps and speed[start:end, ankle].mean() > PLANT_SPEED:
                out[start:end, ankle] = out[start:end, toe] = turn[start:end]
    return out


def held_positions(track, still, ramp):
    """A joint's track (T, 3) with each run of `still` frames held at the run's median horizontal position;
    heights are kept. Between two holds the correction changes linearly, over the whole step rather than at
    its ends, so the foot's own swing is kept and it moves no faster near the floor than it must; before the
    first hold and after the last, the correction eases out over `ramp` frames."""
    if not still.any():
        return track.copy()
    correction = np.zeros((len(track), 2))
    for start, end in runs(still):
        correction[start:end] = np.median(track[start:end, [0, 2]], axis=0) - track[start:end, [0, 2]]
    frames = np.arange(len(track))
    known = np.flatnonzero(still)
    correction = np.stack([np.interp(frames, known, correction[known, k]) for k in range(2)], -1)
    gap = np.maximum(np.maximum(known[0] - frames, frames - known[-1]), 0)
    u = np.clip(1 - gap / (ramp + 1), 0.0, 1.0)
    out = track.copy()
    out[:, [0, 2]] += (u * u * (3 - 2 * u))[:, None] * correction
    return out


def eased_swings(ankle, toe, held, put_in):
    """Ankle and toe tracks (T, 3) with each step between two holds of `held` that starts or ends in a
    put-in stance (`put_in`) retimed: the foot keeps its path but starts and ends at rest, fastest
    mid-step (smoothstep in time). A gliding foot has no step of its own: held in turns, it moved on at
    the body's pace right up to each stance, fast while low, where a stepping foot is slow. (The default
    model's chases on held-out set A, served, skated at 1.09 m/s with half-cycle stances at an even pace;
    with the corpus's gait and these retimed steps at 0.82, the corpus's at 0.88.)"""
    ankle, toe = ankle.copy(), toe.copy()
    holds = runs(held)
    for (s0, end), (start, e1) in zip(holds[:-1], holds[1:]):
        if not (put_in[s0:end].any() or put_in[start:e1].any()):
            continue
        k = np.arange(end - 1, start + 1)  # the step, from the last frame of one hold to the first of the next
        travelled = np.concatenate([[0.0], np.cumsum(norm(np.diff(ankle[k][:, [0, 2]], axis=0)))])
        if travelled[-1] < 1e-6:
            continue
        u = (k - k[0]) / (k[-1] - k[0])
        when = np.interp(travelled[-1] * u * u * (3 - 2 * u), travelled + 1e-9 * np.arange(len(k)), k)
        for track in (ankle, toe):
            track[k[:, None], [0, 2]] = np.stack([np.interp(when, k, track[k, c]) for c in (0, 2)], -1)
    return ankle, toe


def stance(still, ramp):
    """(T,) 0 off `still` frames, rising (smoothstep) to 1 over the first and last `ramp` frames of each run
    (over its halves, for a run shorter than two ramps: a running stride's stance is, and must still carry
    the other foot's whole step)."""
    out = np.zeros(len(still))
    for start, end in runs(still):
        k = np.arange(start, end)
        u = np.clip(np.minimum(k - start + 1, end - k) / (min(ramp, (end - start) // 2) + 1), 0.0, 1.0)
        out[start:end] = u * u * (3 - 2 * u)
    return out


def step_arcs(track, still):
    """(T,) heights to add to a foot between consecutive holds, so that it clears a half-sine arc over the
    line between the two holds, as high as half the step's length and at most STEP_CLEARANCE. A small
    model's steps shuffle along the floor, and a foot near the floor that moves skates; a foot that already
    lifts that high is left alone."""
    lift = np.zeros(len(track))
    held = runs(still)
    for (_, end), (start, _) in zip(held[:-1], held[1:]):
        a, b = track[end - 1], track[start]
        step = np.linalg.norm(b[[0, 2]] - a[[0, 2]])
        u = (np.arange(end, start) - (end - 1)) / (start - end + 1)
        floor = (1 - u) * a[1] + u * b[1]
        peak = min(STEP_CLEARANCE, 0.5 * step)
        if (track[end:start, 1] - floor).max(initial=0.0) >= peak:
            continue  # a real step: it lifts the foot already
        lift[end:start] = np.maximum(floor + peak * np.sin(np.pi * u) - track[end:start, 1], 0.0)
    return lift


def plant_feet(p, fps):
    """Hold planted ankles and toes in place (a gliding foot's put-in stances too, `paced_steps`, its steps
    between them retimed, `eased_swings`) and lift stepping feet clear of the floor (`step_arcs`); each
    leg reaches its ankle from the hip by two-bone IK (its own per-frame bone lengths, the knee bending
    towards where it was), the toe keeping its length except where planted (a planted toe stays on its spot,
    the foot pivoting about it while the heel lifts). A goal out of the leg's reach is approached as
    closely as the straight leg allows. Frames that need no correction are kept exactly.

    A stepping foot is lifted only while the other foot stands planted (easing in and out inside that
    stance): lifting feet that step while the other foot is not planted either (a model shuffling both)
    floated the whole body (lowest joint above 2 cm in 8 % of the default model's frames, 0 % in the
    corpus)."""
    still = planted(p, fps)
    put_in = paced_steps(p, fps, still)
    still |= put_in
    ramp = max(1, round(BLEND_SECONDS * fps))
    channel = {joint: c for c, joint in enumerate(sk.CONTACT_JOINTS)}
    goals, arcs = {}, {}  # per leg (by its ankle): held ankle and toe tracks, and the step arcs
    for hip, knee, ankle, toe in LEGS:
        on_floor = still[:, channel[ankle]] | still[:, channel[toe]]
        if on_floor.any():
            goals[ankle] = eased_swings(held_positions(p[:, ankle], still[:, channel[ankle]], ramp),
                                        held_positions(p[:, toe], still[:, channel[toe]], ramp),
                                        on_floor, put_in[:, channel[ankle]])
            arcs[ankle] = step_arcs(goals[ankle][0], on_floor)
    if len(arcs) == 2:  # each foot steps only while the other stands
        left, right = arcs
        standing = {ankle: stance(still[:, channel[ankle]] | still[:, channel[toe]], ramp) for _, _, ankle, toe in LEGS}
        arcs = {left: arcs[left] * standing[right], right: arcs[right] * standing[left]}
    else:
        arcs = dict.fromkeys(arcs, 0.0)  # one foot never plants: no foot to stand on while the other steps
    out = p.copy()
    for hip, knee, ankle, toe in LEGS:
        if ankle not in goals:
            continue
        ankle_goal, toe_goal = goals[ankle]
        ankle_goal[:, 1] += arcs[ankle]
        toe_goal[:, 1] += arcs[ankle]
        toe_held = still[:, channel[toe]]
        # a planted toe under a lifting heel: the foot pivots about the toe, which stays put
        pivot = toe_held & ~still[:, channel[ankle]]
        foot = norm(p[pivot, toe] - p[pivot, ankle])[:, None]
        ankle_goal[pivot] = toe_goal[pivot] + foot * normalise(ankle_goal[pivot] - toe_goal[pivot])
        fix = (np.abs(ankle_goal - p[:, ankle]).max(-1) > 1e-9) | (np.abs(toe_goal - p[:, toe]).max(-1) > 1e-9)
        reach(out, p, (hip, knee, ankle, toe), fix, ankle_goal[fix], toe_goal[fix], toe_held[fix])
    return out


def reach(out, p, leg, fix, ankle_goal, toe_goal, toe_on_goal=False):
    """In `out`, on the `fix` frames, the leg (hip, knee, ankle, toe) of `p` reaching `ankle_goal` from its hip
    by two-bone IK with its own per-frame bone lengths (the knee bending towards where it was), and its toe
    pointing at `toe_goal` with its length kept, or on it where `toe_on_goal` (a planted toe: the model's
    foot lengths vary from frame to frame, and a toe placed by length drifts by as much)."""
    hip, knee, ankle, toe = leg
    if not fix.any():
        return
    foot = norm(p[fix, toe] - p[fix, ankle])[:, None]
    out[fix, knee], out[fix, ankle] = reach_limb(p, hip, knee, ankle, fix, ankle_goal)
    placed = out[fix, ankle] + foot * normalise(toe_goal - out[fix, ankle])
    out[fix, toe] = np.where(np.asarray(toe_on_goal)[..., None], toe_goal, placed)


def raise_sunk_feet(p, limit=FOOT_RAISE_LIMIT):
    """Ankles and toes below the floor raised towards it by up to `limit`, each leg reaching its ankle by
    two-bone IK (the knee bending a little more, towards where it was) and the toe turning about the
    ankle: a foot dipping a centimetre into the floor is the foot's error, and lifting the whole body for
    it made the body float over the frames around. A deeper sink is the body's, left to lift the body.
    Frames with no foot below the floor are kept exactly."""
    out = p.copy()
    for leg in LEGS:
        ankle, toe = leg[2:]
        fix = (p[:, ankle, 1] < 0) | (p[:, toe, 1] < 0)
        goals = [p[fix, ankle].copy(), p[fix, toe].copy()]
        for goal in goals:
            goal[:, 1] += np.clip(-goal[:, 1], 0.0, limit)
        reach(out, p, leg, fix, *goals)
    return out
