"""The physical metrics respond to what they measure, on real synthetic scenes with known defects added."""

import numpy as np
import pytest

from server.eval import physics
from server.motion import skeleton as sk
from server.synth import corpus


@pytest.fixture(scope="module")
def scene():
    return corpus.samples(1, seed=3, families=["handshake"])[0]


def test_clean_scene_scores_low(scene):
    m = physics.measure(*scene.positions, sk.FPS, scene.family)
    assert m.ground_penetration == 0.0
    assert m.body_penetration < 0.01
    assert m.contact_distance < 0.03
    assert m.foot_skate < 0.1


def test_sliding_feet_raise_foot_skate(scene):
    p1, p2 = (p.copy() for p in scene.positions)
    base = physics.foot_skate(p1, sk.FPS)
    speed = 0.5  # m/s
    drift = (np.arange(len(p1)) * speed / sk.FPS)[:, None] * np.array([1.0, 0.0, 0.0])
    p1[:, list(sk.CONTACT_JOINTS)] += drift[:, None]
    assert physics.foot_skate(p1, sk.FPS) > base + 0.5 * speed


def test_sinking_raises_ground_penetration(scene):
    p1 = scene.positions[0] - np.array([0.0, 0.05, 0.0])
    assert physics.ground_penetration(p1) == pytest.approx(0.05, abs=1e-6)


def test_hovering_is_measured_as_floating_and_sinking_is_not(scene):
    p1 = scene.positions[0]
    assert physics.floating(p1) == pytest.approx(0.0, abs=1e-6)  # a corpus scene stands on the floor
    hover = p1 + np.array([0.0, 0.05, 0.0])
    hover[:30] = p1[:30]  # on the floor for a second, then 5 cm up for the rest
    assert physics.floating(hover) == pytest.approx(0.05 * (len(p1) - 30) / len(p1), abs=1e-6)
    assert physics.floating(p1 - np.array([0.0, 0.05, 0.0])) == 0.0


def test_overlapping_bodies_are_measured(scene):
    p1 = scene.positions[0]
    depth = physics.body_penetration(p1, p1 + np.array([0.05, 0.0, 0.0]))
    assert depth.min() > 0.15  # the same body shifted 5 cm overlaps by almost a torso's diameter


def test_jitter_grows_with_noise(scene):
    p1 = scene.positions[0]
    noisy = p1 + np.random.default_rng(0).normal(0, 0.005, p1.shape)
    assert physics.jitter(noisy, sk.FPS) > 3 * physics.jitter(p1, sk.FPS)


def test_contact_distance_needs_an_intended_contact(scene):
    p1, p2 = scene.positions
    assert np.isnan(physics.contact_distance(p1, p2, "walk_past"))
    far = p2 + np.array([0.0, 0.0, 3.0])
    assert physics.contact_distance(p1, far, "handshake") > 2.0
