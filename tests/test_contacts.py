"""Completing intended contacts: hands that a sample brings close to where they should touch are closed by
the arms, with bone lengths kept, and nothing else moves: not the rest of the bodies, not the frames away
from the contact, not a person who may not move."""

import numpy as np
import pytest

from server.eval import physics
from server.motion import cleanup, contacts, skeleton as sk
from server.synth import corpus

J = sk.JOINT_INDEX
FPS = sk.FPS  # the corpus's scenes are scripted at 30 fps
ARM_JOINTS = [J[n] for n in ("left_elbow", "right_elbow", "left_wrist", "right_wrist")]
HANDSHAKE = contacts.INTENDED["handshake"]


def scene(family, seed):
    p1, p2 = corpus.samples(1, seed=seed, families=[family])[0].positions
    return p1, p2


def stepped_back(p1, p2, metres):
    """Person 2 moved `metres` further from person 1 along the line between their pelvises, on every frame."""
    away = p2[:, J["pelvis"]] - p1[:, J["pelvis"]]
    away[:, 1] = 0.0
    away /= np.linalg.norm(away, axis=-1, keepdims=True)
    return p2 + metres * away[:, None]


def arm_lengths(p):
    pairs = [("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
             ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist")]
    return np.stack([np.linalg.norm(p[:, J[b]] - p[:, J[a]], axis=-1) for a, b in pairs], -1)


@pytest.fixture(scope="module")
def short_handshake():
    """A real synthetic handshake (its hands meet), with person 2 standing 12 cm further off: the hands
    stop 12 cm short."""
    p1, p2 = scene("handshake", 3)
    assert physics.contact_distance(p1, p2, "handshake") < 0.005
    p2 = stepped_back(p1, p2, 0.12)
    assert 0.10 < physics.contact_distance(p1, p2, "handshake") < 0.13
    return p1, p2


def test_hands_that_stop_short_meet_and_only_the_arms_move(short_handshake):
    p1, p2 = short_handshake
    q1, q2 = contacts.complete(p1, p2, HANDSHAKE, FPS)
    assert physics.contact_distance(q1, q2, "handshake") < 0.005
    for before, after in ((p1, q1), (p2, q2)):
        others = [j for j in range(sk.N_JOINTS) if j not in ARM_JOINTS]
        np.testing.assert_array_equal(after[:, others], before[:, others])
        np.testing.assert_allclose(arm_lengths(after), arm_lengths(before), atol=1e-6)
        assert np.abs(after - before).max() > 0.04  # both reached: each about half the way


def test_the_contact_is_held_as_long_as_the_sample_held_it_and_the_rest_is_untouched(short_handshake):
    p1, p2 = short_handshake
    (a, ja, jb), _ = contacts.closest_pair(p1, p2, HANDSHAKE)
    pair = (p1, p2)
    before = contacts.distances(pair[a], pair[1 - a], ja, jb)
    q = contacts.complete(p1, p2, HANDSHAKE, FPS)
    after = contacts.distances(q[a], q[1 - a], ja, jb)
    holding = before <= before.min() + contacts.HOLD_SLACK
    assert holding.sum() > 0.5 * FPS  # the scene shakes hands for over half a second
    assert after[holding].max() < 0.005
    moved = np.abs(q[0] - p1).max(axis=(1, 2)) + np.abs(q[1] - p2).max(axis=(1, 2)) > 0
    ramp = int(round(contacts.RAMP_SECONDS * FPS))
    first, last = np.flatnonzero(holding)[[0, -1]]
    assert not moved[: max(first - ramp, 0)].any() and not moved[last + ramp + 1:].any()
    assert np.abs(np.diff(after - before)).max() < 0.03  # eased in and out: no pop


def test_a_partner_who_may_not_move_is_kept_exactly_and_the_other_arm_reaches_all_the_way(short_handshake):
    p1, p2 = short_handshake
    q1, q2 = contacts.complete(p1, p2, HANDSHAKE, FPS, movable=(False, True))
    assert q1 is p1 or np.array_equal(q1, p1)
    assert physics.contact_distance(q1, q2, "handshake") < 0.01  # 12 cm for one arm: it ends nearly straight
    assert contacts.complete(p1, p2, HANDSHAKE, FPS, movable=(False, False)) == (p1, p2)


def test_a_contact_the_sample_does_not_reach_for_or_already_makes_is_left_alone(short_handshake):
    p1, p2 = short_handshake
    far = stepped_back(p1, p2, contacts.MAX_COMPLETION + 0.05)
    assert contacts.complete(p1, far, HANDSHAKE, FPS) == (p1, far)
    t1, t2 = scene("handshake", 3)
    assert contacts.complete(t1, t2, HANDSHAKE, FPS) == (t1, t2)


def test_a_hand_for_the_shoulder_stops_at_the_shoulders_surface_and_the_partner_stays():
    p1, p2 = scene("pat_shoulder", 5)
    gap = contacts.INTENDED["pat_shoulder"].gap
    assert physics.contact_distance(p1, p2, "pat_shoulder") < gap + 0.01
    p2 = stepped_back(p1, p2, 0.10)
    (a, _, _), _ = contacts.closest_pair(p1, p2, contacts.INTENDED["pat_shoulder"])
    q = contacts.complete(p1, p2, contacts.INTENDED["pat_shoulder"], FPS)
    np.testing.assert_array_equal(q[1 - a], (p1, p2)[1 - a])  # a shoulder is not moved by an arm's IK
    assert physics.contact_distance(*q, "pat_shoulder") == pytest.approx(gap, abs=0.005)


def test_an_arm_that_cannot_reach_is_made_up_for_by_the_partners(short_handshake):
    """Person x's arm already straight, pointing at person y's hand 10 cm beyond its reach: y's hand closes
    all of the gap."""
    p1, p2 = short_handshake
    (a, ja, jb), _ = contacts.closest_pair(p1, p2, HANDSHAKE)
    shoulder, elbow = J[ja.replace("wrist", "shoulder")], J[ja.replace("wrist", "elbow")]
    x, y = (p1, p2)[a].copy(), (p1, p2)[1 - a]
    upper = np.linalg.norm(x[:, elbow] - x[:, shoulder], axis=-1)[:, None]
    fore = np.linalg.norm(x[:, J[ja]] - x[:, elbow], axis=-1)[:, None]
    beyond = (upper + fore)[:, 0] + 0.10 - np.linalg.norm(y[:, J[jb]] - x[:, shoulder], axis=-1)
    y = y + np.maximum(beyond, 0.0).max() * (y[:, J[jb]] - x[:, shoulder])[:, None] / \
        np.linalg.norm(y[:, J[jb]] - x[:, shoulder], axis=-1)[:, None, None]
    aim = (y[:, J[jb]] - x[:, shoulder]) / np.linalg.norm(y[:, J[jb]] - x[:, shoulder], axis=-1, keepdims=True)
    x[:, elbow] = x[:, shoulder] + upper * aim
    x[:, J[ja]] = x[:, elbow] + fore * aim
    pair = (x, y) if a == 0 else (y, x)
    q = contacts.complete(*pair, HANDSHAKE, FPS)
    assert physics.contact_distance(*q, "handshake") < 0.005
    np.testing.assert_allclose(q[a][:, J[ja]], x[:, J[ja]], atol=1e-6)  # the straight arm stayed put


def test_the_clean_up_completes_the_contact_it_is_given_last(short_handshake):
    p1, p2 = short_handshake
    q1, q2 = cleanup.clean_pair(p1, p2, FPS, touch=HANDSHAKE)
    assert physics.contact_distance(q1, q2, "handshake") < 0.005
    w1, w2 = cleanup.clean_pair(p1, p2, FPS)
    assert physics.contact_distance(w1, w2, "handshake") > 0.1
