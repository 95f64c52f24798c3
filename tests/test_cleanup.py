"""The clean-up of generated motion resolves what it is for (overlapping bodies, sinking) and touches
nothing else: frames without a defect, and a person that may not move, stay exactly as they were.
(Its third part, planted feet, is tested in test_feet.py.)"""

import numpy as np
import pytest

from server.eval import physics
from server.motion import bodies, cleanup, feet, skeleton as sk
from server.synth import corpus

J = sk.JOINT_INDEX
PELVIS = J["pelvis"]
FPS = sk.FPS  # the corpus's scenes are scripted at 30 fps


@pytest.fixture(scope="module")
def pair():
    """A real synthetic handshake: the bodies come close but never overlap."""
    p1, p2 = corpus.samples(1, seed=3, families=["handshake"])[0].positions
    assert overlap(p1, p2).max() < 1e-3
    return p1, p2


def overlap(p1, p2):
    return physics.body_penetration(p1, p2, (physics.height_scale(p1), physics.height_scale(p2)))


def walk_through(p1, p2, gap=0.15, start=40, end=60):
    """Person 2 moved towards person 1 during frames [start, end), until their pelvises are `gap` metres
    apart horizontally: their torsos overlap."""
    p2 = p2.copy()
    toward = p1[:, PELVIS] - p2[:, PELVIS]
    toward[:, 1] = 0.0
    distance = np.linalg.norm(toward, axis=-1, keepdims=True)
    move = np.zeros((len(p2), 3))
    move[start:end] = (toward * (1 - gap / distance))[start:end]
    p2 += move[:, None]
    return p2


def test_overlapping_bodies_are_pushed_apart_and_the_rest_is_untouched(pair):
    p1, p2 = pair
    bad = walk_through(p1, p2)
    assert overlap(p1, bad).max() > 0.05
    assert overlap(*cleanup.clean_pair(p1, bad, FPS)).max() < 1e-3
    q1, q2 = cleanup.separate(p1, bad)
    assert overlap(q1, q2).max() < 1e-3
    # only frames near the overlap moved, and each person moved rigidly and horizontally
    moved = np.abs(q1 - p1).max(axis=(1, 2)) > 0
    assert moved[40:60].all() and not moved[:25].any() and not moved[75:].any()
    for before, after in ((p1, q1), (bad, q2)):
        shift = after - before
        assert np.allclose(shift, shift[:, :1], atol=1e-9) and np.allclose(shift[..., 1], 0.0)


def test_the_push_ramps_in_and_out(pair):
    p1, p2 = pair
    q1, _ = cleanup.separate(p1, walk_through(p1, p2, gap=0.1))
    offset = np.linalg.norm(q1[:, PELVIS] - p1[:, PELVIS], axis=-1)
    assert np.abs(np.diff(offset)).max() < 0.5 * offset.max()


def test_a_person_that_may_not_move_is_kept_exactly(pair):
    p1, p2 = pair
    bad = walk_through(p1, p2)
    q1, q2 = cleanup.clean_pair(p1, bad, FPS, movable=(True, False))
    assert np.array_equal(q2, bad)
    assert overlap(q1, q2).max() < 1e-3
    assert cleanup.clean_pair(p1, bad, FPS, movable=(False, False)) == (p1, bad)


def test_sinking_frames_are_lifted_smoothly_and_others_kept(pair):
    p1, p2 = pair
    sunk = p1.copy()
    sunk[20:60, :, 1] -= 0.06 * np.sin(np.linspace(0, np.pi, 40))[:, None]  # a smooth dip into the floor
    assert physics.ground_penetration(sunk) > 0
    assert physics.ground_penetration(cleanup.clean_pair(sunk, p2 + np.array([5.0, 0.0, 0.0]), FPS)[0]) == 0.0
    lifted = cleanup.lift_above_floor(sunk)
    assert physics.ground_penetration(lifted) == 0.0
    assert np.array_equal(lifted[:10], sunk[:10]) and np.array_equal(lifted[70:], sunk[70:])
    step = lambda p: np.abs(np.diff(p[:, PELVIS, 1])).max()  # noqa: E731
    assert step(lifted) < step(sunk) + 0.005


def test_smooth_envelope_is_never_below_its_input():
    x = np.random.default_rng(0).uniform(0, 1, 200) * (np.random.default_rng(1).uniform(0, 1, 200) > 0.8)
    env = cleanup.smooth_envelope(x)
    assert (env >= x - 1e-12).all()
    assert cleanup.smooth_envelope(np.zeros(50)).max() == 0.0


def test_smoothing_takes_out_frame_noise_and_keeps_stillness_and_steady_motion(pair):
    """`cleanup.smooth`: a still pose and a steady walk (away from the clip's ends) come back as they were;
    frame-to-frame noise on a real scene is mostly taken out, and the smoothed track is nearer the clean one."""
    still = np.repeat(pair[0][:1], 40, axis=0)
    np.testing.assert_allclose(cleanup.smooth(still, FPS), still, atol=1e-12, rtol=0)
    walk = still + np.arange(40)[:, None, None] * np.array([0.0, 0.0, 0.05])  # 1.5 m/s along Z
    np.testing.assert_allclose(cleanup.smooth(walk, FPS)[5:-5], walk[5:-5], atol=1e-9, rtol=0)
    clean = pair[0]
    noisy = clean + np.random.default_rng(0).normal(0.0, 0.005, clean.shape)  # 5 mm per frame
    smoothed = cleanup.smooth(noisy, FPS)
    assert physics.jitter(smoothed, FPS) < 0.3 * physics.jitter(noisy, FPS)
    assert np.abs(smoothed - clean).mean() < 0.7 * np.abs(noisy - clean).mean()
    unsmoothed = cleanup.smooth(noisy, FPS, seconds=0.0)
    assert unsmoothed is not noisy and np.array_equal(unsmoothed, noisy)


def test_what_the_process_serves_is_the_sample_at_30_fps_cleaned_up(pair):
    """`engine.served_positions`, shared by the generator process and the evaluation: a 15 fps sample
    comes back at 30 fps; a sinking person is lifted, a person that may not move is only resampled."""
    from server.engine import person_features, served_positions, to_wire_rate
    from server.motion.features import POSITIONS
    p1, p2 = (p[::2] for p in pair)
    motion = np.stack([person_features(p1), person_features(p2 - np.array([0.0, 0.05, 0.0]))])
    kept, lifted = served_positions(motion, 2, movable=(False, True))
    assert kept.shape == lifted.shape == (2 * len(p1), sk.N_JOINTS, 3)
    assert np.array_equal(kept, to_wire_rate(motion[0][:, POSITIONS].reshape(-1, sk.N_JOINTS, 3), 2))
    assert motion[1][:, POSITIONS].min() < -0.04 and lifted[..., 1].min() > -1e-6



def arm_into_chest(p1, p2, depth):
    """Person 2's right upper arm ending `depth` metres inside person 1's chest capsule (the rest apart)."""
    p2 = p2.copy()
    chest = p1[:, J["spine3"]]
    towards_2 = p2[:, PELVIS] - p1[:, PELVIS]
    towards_2[:, 1] = 0.0
    towards_2 /= np.linalg.norm(towards_2, axis=-1, keepdims=True)
    radii = bodies._bone_radius(J["spine3"]) * physics.height_scale(p1) \
        + bodies._bone_radius(J["right_elbow"]) * physics.height_scale(p2)
    p2[:, J["right_elbow"]] = chest + (radii - depth) * towards_2
    return p2


def test_an_upper_arm_pressing_on_the_partner_within_the_allowance_is_left_alone(pair):
    """Arms wrap around and press on a partner (hugs): an upper arm overlapping the other body by less than
    ARM_ALLOWANCE moves nobody; deeper, the bodies are pushed apart until only the allowance is left."""
    p1, p2 = pair
    hugging = arm_into_chest(p1, p2, 0.6 * cleanup.ARM_ALLOWANCE)
    assert overlap(p1, hugging).max() == pytest.approx(0.6 * cleanup.ARM_ALLOWANCE, abs=1e-6)
    q1, q2 = cleanup.separate(p1, hugging)
    assert np.array_equal(q1, p1) and np.array_equal(q2, hugging)
    poking = arm_into_chest(p1, p2, 0.05)
    q1, q2 = cleanup.separate(p1, poking)
    assert not np.array_equal(q1, p1)
    assert overlap(q1, q2).max() <= cleanup.ARM_ALLOWANCE + 1e-3


def test_a_push_does_not_slide_standing_feet(pair):
    """Person 2, standing, leans into person 1 (upper body only, easing in and out): the push apart moves
    the whole body, and the planted feet are held through it rather than sliding with it."""
    p1, p2 = pair
    ankles = [J["left_ankle"], J["right_ankle"]]
    both = feet.planted(p2, FPS)[:, [sk.CONTACT_JOINTS.index(a) for a in ankles]].all(-1)
    start, end = max(feet.runs(both), key=lambda r: r[1] - r[0])
    assert end - start >= 60
    toward = p1[:, PELVIS] - p2[:, PELVIS]
    toward[:, 1] = 0.0
    distance = np.linalg.norm(toward, axis=-1, keepdims=True)
    toward /= distance
    window = slice(start + 10, end - 10)
    lean = np.zeros(len(p2))  # to 10 cm from person 1's pelvis and back
    lean[window] = (distance[window, 0] - 0.1) * np.sin(np.linspace(0, np.pi, end - start - 20)) ** 2
    legs = {J[f"{side}_{n}"] for side in ("left", "right") for n in ("hip", "knee", "ankle", "foot")}
    leaning = p2.copy()
    leaning[:, [j for j in range(sk.N_JOINTS) if j not in legs]] += (lean[:, None] * toward)[:, None]
    assert overlap(p1, leaning).max() > 0.05
    q1, q2 = cleanup.clean_pair(p1, leaning, FPS)
    assert overlap(q1, q2).max() <= cleanup.ARM_ALLOWANCE + 1e-3
    assert np.abs(q2[:, PELVIS] - leaning[:, PELVIS]).max() > 0.05  # pushed back
    stance = slice(start, end)
    assert np.ptp(q2[stance, ankles][..., [0, 2]], axis=0).max() < 0.01  # pushed with the body: 5+ cm
