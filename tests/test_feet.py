"""Planted feet in the clean-up of generated motion: a sliding stance foot is held, a shuffling step is lifted
clear of the floor, legs keep their lengths, and the still feet of clean motion stay where they were.
Real corpus scenes (30 fps), with the defects a small model's samples show put into them."""

import numpy as np
import pytest

from server.eval import physics
from server.motion import feet, skeleton as sk
from server.synth import corpus

FPS = sk.FPS
J = sk.JOINT_INDEX
HIP, KNEE, ANKLE, TOE = (J[f"left_{n}"] for n in ("hip", "knee", "ankle", "foot"))
ANKLE_CHANNEL = sk.CONTACT_JOINTS.index(ANKLE)


@pytest.fixture(scope="module")
def walker():
    """Person 1 of a real scene that walks up and stops: several planted runs and steps between them."""
    return corpus.samples(1, seed=5, families=["approach_stop"])[0].positions[0]


def longest_run(flags):
    return max(feet.runs(flags), key=lambda r: r[1] - r[0])


def lengths(p, a, b):
    return np.linalg.norm(p[:, b] - p[:, a], axis=-1)


def test_a_sliding_stance_foot_is_held_and_the_leg_keeps_its_lengths(walker):
    start, end = longest_run(feet.planted(walker, FPS)[:, ANKLE_CHANNEL])
    assert end - start >= 15
    sliding = walker.copy()
    drift = np.zeros(len(walker))
    drift[start:end] = 0.15 / FPS * np.arange(end - start)  # 0.15 m/s, as a sample's stance foot drifts
    drift[end:] = drift[end - 1]
    sliding[:, [ANKLE, TOE], 0] += drift[:, None]
    speed = lambda p: np.linalg.norm(np.diff(p[start:end, ANKLE][:, [0, 2]], axis=0), axis=-1)  # noqa: E731
    assert speed(sliding).mean() > 0.004

    held = feet.plant_feet(sliding, FPS)
    assert speed(held).max() < 1e-6  # still through the whole run, not only on average
    for a, b in ((HIP, KNEE), (KNEE, ANKLE)):  # the leg reaches it with its own lengths
        assert np.allclose(lengths(held, a, b), lengths(sliding, a, b), atol=1e-6)
    # a planted toe stands on its own spot: the foot's length is the one it stands with
    assert np.allclose(lengths(held, ANKLE, TOE), lengths(sliding, ANKLE, TOE), atol=1e-3)
    assert np.array_equal(held[:, HIP], sliding[:, HIP])  # the body is not moved
    assert physics.foot_skate(held, FPS) < physics.foot_skate(sliding, FPS)


def test_a_planted_toe_stays_put_when_the_foot_changes_length(walker):
    """A small model's bone lengths wobble from frame to frame: a toe placed at the foot's length from a held
    ankle drifted with them (0.06 m/s in the default model's stances), so a planted toe is held on its spot."""
    toe_channel = sk.CONTACT_JOINTS.index(TOE)
    start, end = longest_run(feet.planted(walker, FPS)[:, toe_channel])
    wobbly = walker.copy()
    stretch = 1 + 0.06 * np.sin(np.arange(len(walker)) * 0.9)  # +-6 % of the foot's length
    wobbly[:, TOE] = walker[:, ANKLE] + stretch[:, None] * (walker[:, TOE] - walker[:, ANKLE])
    moves = lambda p: np.linalg.norm(np.diff(p[start:end, TOE][:, [0, 2]], axis=0), axis=-1)  # noqa: E731
    assert moves(wobbly).max() > 1e-3
    held = feet.plant_feet(wobbly, FPS)
    assert moves(held).max() < 1e-6


def test_a_shuffling_step_is_lifted_clear_of_the_floor(walker):
    still = feet.planted(walker, FPS)[:, ANKLE_CHANNEL]
    (_, end), (start, _) = feet.runs(still)[:2]
    shuffling = walker.copy()
    for joint in (ANKLE, TOE):  # the step slides along the floor at the height the foot stands at
        shuffling[end:start, joint, 1] = walker[end - 1, joint, 1]
    assert physics.foot_skate(shuffling, FPS) > physics.foot_skate(walker, FPS)

    lifted = feet.plant_feet(shuffling, FPS)
    rise = lifted[end:start, ANKLE, 1] - walker[end - 1, ANKLE, 1]
    assert 0.03 < rise.max() <= feet.STEP_CLEARANCE + 1e-9
    assert physics.foot_skate(lifted, FPS) < 0.8 * physics.foot_skate(shuffling, FPS)
    assert np.allclose(lengths(lifted, KNEE, ANKLE), lengths(shuffling, KNEE, ANKLE), atol=1e-6)


def test_still_feet_of_clean_motion_stay_where_they_were(walker):
    out = feet.plant_feet(walker, FPS)
    for joint in sk.CONTACT_JOINTS:
        step = np.linalg.norm(np.diff(walker[:, joint], axis=0), axis=-1)
        still = np.concatenate([[False], step == 0]) & np.concatenate([step == 0, [False]])
        assert still.sum() > 20
        assert np.array_equal(out[still, joint], walker[still, joint])


def test_a_person_with_no_planted_foot_is_returned_unchanged(walker):
    airborne = walker + np.array([0.0, 0.5, 0.0])
    assert not feet.planted(airborne, FPS).any()
    assert np.array_equal(feet.plant_feet(airborne, FPS), airborne)


def test_feet_stepping_at_once_are_not_both_lifted(walker):
    """A model shuffling both feet at once, neither planted: lifting both stepping feet would float the
    whole body, so a foot is lifted only while the other stands planted."""
    still = feet.planted(walker, FPS)[:, ANKLE_CHANNEL]
    (_, end), (start, _) = feet.runs(still)[:2]
    shuffling = walker.copy()
    for joint in (ANKLE, TOE):  # the left foot's step slides along the floor ...
        shuffling[end:start, joint, 1] = walker[end - 1, joint, 1]
    right = [J["right_ankle"], J["right_foot"]]
    slide = np.zeros(len(walker))  # ... while the right foot slides too, too fast to count as planted
    slide[end:start] = 0.6 / FPS * np.arange(1, start - end + 1)
    slide[start:] = slide[start - 1]
    shuffling[:, right, 0] += slide[:, None]
    out = feet.plant_feet(shuffling, FPS)
    both_stepping = ~feet.planted(shuffling, FPS).any(-1)
    both_stepping[:end] = both_stepping[start:] = False
    assert both_stepping.sum() >= 5
    lowest = lambda p: p[both_stepping][:, list(sk.CONTACT_JOINTS), 1].min(-1)  # noqa: E731
    assert (lowest(out) <= lowest(shuffling) + 1e-6).all()  # the body does not leave the floor


def test_a_foot_dipping_into_the_floor_is_raised_by_its_leg(walker):
    dipped = walker.copy()
    dip = np.zeros(len(walker))
    dip[40:60] = 0.02 * np.sin(np.linspace(0, np.pi, 20))
    dipped[:, [ANKLE, TOE], 1] -= dip[:, None] + dipped[:, [TOE], 1]  # the toe 0-2 cm under the floor
    assert dipped[:, TOE, 1].min() < -0.015
    out = feet.raise_sunk_feet(dipped)
    assert out[:, TOE, 1].min() > -0.003  # on the floor, less what turning the toe about the ankle leaves
    assert np.array_equal(out[:, HIP], dipped[:, HIP])  # the body is not lifted
    for a, b in ((HIP, KNEE), (KNEE, ANKLE), (ANKLE, TOE)):
        assert np.allclose(lengths(out, a, b), lengths(dipped, a, b), atol=1e-6)
    above = (dipped[:, [ANKLE, TOE], 1] >= 0).all(-1)
    assert np.array_equal(out[above], dipped[above])
    deep = walker - np.array([0.0, 0.2, 0.0])  # a whole body 20 cm under: the legs take 3 cm of it, no more
    assert np.allclose(feet.raise_sunk_feet(deep)[:, TOE, 1].min(), deep[:, TOE, 1].min() + feet.FOOT_RAISE_LIMIT,
                       atol=0.01)


def gait(flags, fps):
    """Median step cycle (s) and share of it standing, over the runs of `flags` (a foot's stances)."""
    held = feet.runs(flags)
    cycles = [(b0 - a0, a1 - a0) for (a0, b0), (a1, _) in zip(held[:-1], held[1:])]
    return np.median([c for _, c in cycles]) / fps, np.median([s / c for s, c in cycles])


@pytest.fixture(scope="module", params=[("chase", 3), ("follow", 3)], ids=["running", "walking"])
def runner(request):
    """Person 1 of a real chase (running at about 2 m/s) or of a real follow (walking at 1.1 m/s), stepping
    at the corpus's gait."""
    family, seed = request.param
    return corpus.samples(1, seed=seed, families=[family])[0].positions[0]


@pytest.fixture(scope="module")
def glider(runner):
    """The runner as a small model runs: each foot carried along at its mean place under the body, near
    the floor, with no steps."""
    out = runner.copy()
    pelvis = runner[:, J["pelvis"], :]
    for joint in sk.CONTACT_JOINTS:
        offset = (runner[:, joint] - pelvis)[:, [0, 2]].mean(0)
        out[:, joint, 0], out[:, joint, 2] = pelvis[:, 0] + offset[0], pelvis[:, 2] + offset[1]
        out[:, joint, 1] = np.minimum(runner[:, joint, 1], 0.06)
    return out


def test_feet_gliding_with_a_running_body_are_given_turns_to_stand(runner, glider):
    """A small model's running slides both feet along the floor with the body. Put-in stances, alternating
    between the legs at the corpus's own gait, hold each foot still in its turn while the other steps; real
    running is left alone."""
    assert not feet.paced_steps(runner, FPS, feet.planted(runner, FPS)).any()
    paced = feet.paced_steps(glider, FPS, feet.planted(glider, FPS))
    left, right = paced[:, ANKLE_CHANNEL], paced[:, sk.CONTACT_JOINTS.index(J["right_ankle"])]
    assert len(feet.runs(left)) >= 5 and len(feet.runs(right)) >= 5
    assert (left | right).mean() > 0.8 and (left & right).mean() < 0.3  # turns, both down only between steps
    # the put-in gait is the runner's own: the same cycle and share of it standing
    cycle, duty = gait(feet.planted(runner, FPS)[:, ANKLE_CHANNEL], FPS)
    put_cycle, put_duty = gait(left, FPS)
    assert abs(put_cycle - cycle) <= 0.1 and abs(put_duty - duty) <= 0.1

    out = feet.plant_feet(glider, FPS)
    speed = np.linalg.norm(np.gradient(out[:, ANKLE][:, [0, 2]], axis=0), axis=-1) * FPS
    inner = np.concatenate([np.arange(start + 2, end - 2) for start, end in feet.runs(left)])
    assert np.median(speed[inner]) < 0.05  # held inside each turn (reach permitting)
    assert physics.foot_skate(out, FPS) < 0.8 * physics.foot_skate(glider, FPS)
    assert np.array_equal(out[:, J["pelvis"]], glider[:, J["pelvis"]])  # the body is not moved


def test_a_step_put_into_a_glide_starts_and_ends_at_rest(glider):
    """The swing between two put-in stances keeps the foot's path but not its glide's even pace: slow near
    the stances, where the foot is low, fastest mid-step. The glider's own foot moves at the body's pace
    throughout, fast while low."""
    out = feet.plant_feet(glider, FPS)
    still = feet.planted(glider, FPS)
    held = (still | feet.paced_steps(glider, FPS, still))[:, ANKLE_CHANNEL]
    speed = np.linalg.norm(np.diff(out[:, ANKLE][:, [0, 2]], axis=0), axis=-1) * FPS
    steps = [(end, start) for (_, end), (start, _) in zip(feet.runs(held)[:-1], feet.runs(held)[1:])
             if start - end >= 6]
    assert len(steps) >= 4
    for end, start in steps:
        swing = speed[end - 1:start]  # from the last held frame to the first
        quarter = max(1, len(swing) // 4)
        ends = np.concatenate([swing[:quarter], swing[-quarter:]])
        assert ends.mean() < 0.6 * swing[quarter:-quarter].mean()
        # retimed, not rerouted: the path from one hold to the next is no longer than the step itself
        travelled = swing.sum() / FPS
        chord = np.linalg.norm(out[start, ANKLE, [0, 2]] - out[end - 1, ANKLE, [0, 2]])
        assert travelled < chord * 1.2 + 0.02
