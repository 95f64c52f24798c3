"""The 262-d InterHuman codec: parity with the official pipeline, and its geometric properties."""

import numpy as np
import pytest

from conftest import reference_file
from motion_samples import random_pair, random_person
from server.motion import axes, features as F, ik, mirror, skeleton as sk
from server.motion.kinematics import REST_OFFSETS, rest_positions
from server.motion.normalise import Normaliser


@pytest.fixture(scope="module")
def official():
    return np.load(reference_file("conformance", "motion_processing.npz"))


@pytest.fixture(scope="module")
def official_stats():
    return Normaliser.from_files(reference_file("stats", "global_mean.npy"),
                                 reference_file("stats", "global_std.npy"))


@pytest.mark.parametrize("suffix", ["", "_mirror"])
def test_pair_processing_matches_official(official, official_stats, suffix):
    raw1, raw2 = official["raw_p1" + suffix], official["raw_p2" + suffix]
    f1, f2 = F.encode_raw_pair(raw1, raw2)
    assert f1.shape == f2.shape == (63, F.FEATURE_DIM)
    np.testing.assert_allclose(f1, official["proc_p1" + suffix], atol=1e-6, rtol=0)
    np.testing.assert_allclose(f2, official["proc_p2" + suffix], atol=1e-6, rtol=0)
    # rotations and contacts are exact
    for f, name in ((f1, "proc_p1"), (f2, "proc_p2")):
        np.testing.assert_array_equal(f[:, F.ROTATIONS], official[name + suffix][:, F.ROTATIONS])
        np.testing.assert_array_equal(f[:, F.CONTACTS], official[name + suffix][:, F.CONTACTS])
    np.testing.assert_allclose(official_stats.forward(f1), official["norm_p1" + suffix], atol=1e-5, rtol=0)
    np.testing.assert_allclose(official_stats.forward(f2), official["norm_p2" + suffix], atol=1e-5, rtol=0)


@pytest.mark.parametrize("person", ["p1", "p2"])
def test_canonical_transform_matches_official(official, person):
    c = F.canonicalise(F.raw_to_tracks(official["raw_" + person])[0])
    np.testing.assert_allclose(c.facing, official["root_quat_init_" + person][0], atol=1e-6)
    np.testing.assert_allclose(c.origin, official["root_pos_init_" + person][0], atol=1e-6)


def test_person2_in_its_own_frame_matches_official(official):
    positions, rotations = F.raw_to_tracks(official["raw_p2"])
    f = F.features_from_positions(F.canonicalise(positions).positions, rotations)
    np.testing.assert_allclose(f, official["proc_p2_before_rigid"], atol=1e-6, rtol=0)


def test_mirroring_matches_official(official):
    for p in ("p1", "p2"):
        np.testing.assert_array_equal(mirror.mirror_raw(official["raw_" + p]), official[f"raw_{p}_mirror"])
        np.testing.assert_allclose(mirror.mirror_features(official["proc_" + p]), official[f"proc_{p}_mirror"],
                                   atol=1e-6, rtol=0)


def test_stats_files_are_the_official_ones(official, official_stats):
    np.testing.assert_array_equal(official_stats.mean, official["global_mean"])
    np.testing.assert_array_equal(official_stats.std, official["global_std"])


def test_normaliser_round_trip_and_validation(official_stats):
    x = np.random.default_rng(0).normal(size=(10, F.FEATURE_DIM)).astype(np.float32)
    np.testing.assert_allclose(official_stats.backward(official_stats.forward(x)), x, atol=1e-5)
    with pytest.raises(ValueError, match="positive std"):
        Normaliser(np.zeros(3), np.array([1.0, 0.0, 1.0]))


@pytest.mark.parametrize("seed", range(5))
def test_canonical_person1_starts_at_origin_facing_plus_z(seed):
    (pos1, rot1), (pos2, rot2) = random_pair(seed)
    f1, _ = F.encode_pair(pos1, rot1, pos2, rot2)
    p = F.decode(f1).positions
    np.testing.assert_allclose(p[0, sk.PELVIS, [0, 2]], 0.0, atol=1e-6)
    across = p[0, sk.R_HIP] - p[0, sk.L_HIP]
    forward = np.cross([0.0, 1.0, 0.0], across)
    np.testing.assert_allclose(forward / np.linalg.norm(forward), [0.0, 0.0, 1.0], atol=1e-6)
    assert abs(F.positions_with_last_frame(f1)[..., 1].min()) < 1e-6


@pytest.mark.parametrize("seed", range(5))
def test_pair_keeps_relative_placement(seed):
    """Person 2 is moved by the same rigid transform as person 1: distances between them are kept."""
    (pos1, rot1), (pos2, rot2) = random_pair(seed)
    f1, f2 = F.encode_pair(pos1, rot1, pos2, rot2)
    a, b = F.decode(f1).positions, F.decode(f2).positions
    floor1, floor2 = pos1[..., 1].min(), pos2[..., 1].min()
    world = np.linalg.norm((pos1[:-1, :, None] - [0, floor1, 0]) - (pos2[:-1, None] - [0, floor2, 0]), axis=-1)
    np.testing.assert_allclose(np.linalg.norm(a[:, :, None] - b[:, None], axis=-1), world, atol=1e-5)


@pytest.mark.parametrize("seed", range(5))
def test_features_joints_features_round_trip(seed):
    (pos1, rot1), (pos2, rot2) = random_pair(seed, T=50)
    f1, f2 = F.encode_pair(pos1, rot1, pos2, rot2)
    tracks = []
    for f in (f1, f2):
        rot = F.decode(f).rotations6d
        tracks += [F.positions_with_last_frame(f), np.concatenate([rot, rot[-1:]])]
    g1, g2 = F.encode_pair(*tracks)
    np.testing.assert_allclose(g1, f1, atol=2e-5)
    np.testing.assert_allclose(g2, f2, atol=2e-5)


@pytest.mark.parametrize("seed", range(5))
def test_mirroring_commutes_with_encoding_and_is_an_involution(seed):
    (pos1, rot1), (pos2, rot2) = random_pair(seed)
    f1, f2 = F.encode_pair(pos1, rot1, pos2, rot2)
    raw = [np.concatenate([(p @ np.linalg.inv(F.RAW_TO_Y_UP).T).reshape(len(p), -1), r.reshape(len(r), -1)], -1)
           for p, r in ((pos1, rot1), (pos2, rot2))]
    m1, m2 = F.encode_raw_pair(mirror.mirror_raw(raw[0]), mirror.mirror_raw(raw[1]))
    np.testing.assert_allclose(mirror.mirror_features(f1), m1, atol=2e-5)
    np.testing.assert_allclose(mirror.mirror_features(f2), m2, atol=2e-5)
    np.testing.assert_array_equal(mirror.mirror_features(mirror.mirror_features(f1)), f1)
    np.testing.assert_array_equal(mirror.mirror_raw(mirror.mirror_raw(raw[0])), raw[0].astype(np.float32))


@pytest.mark.parametrize("text, expected", [
    ("One person raises the left hand", "One person raises the right hand"),
    ("Right: they turn clockwise", "Left: they turn counterclockwise"),
    ("LEFT then counterclockwise", "RIGHT then clockwise"),
    ("they walk counter-clockwise to the leftmost chair", "they walk clockwise to the leftmost chair"),
])
def test_caption_mirroring(text, expected):
    assert mirror.mirror_caption(text) == expected


def test_caption_mirroring_twice_is_identity_for_canonical_words():
    text = "The left one circles clockwise, the right one counterclockwise."
    assert mirror.mirror_caption(mirror.mirror_caption(text)) == text


def test_model_blender_axes():
    M = axes.MODEL_TO_BLENDER
    np.testing.assert_allclose(M @ M.T, np.eye(3))
    assert np.isclose(np.linalg.det(M), 1.0), "a proper rotation, not a reflection"
    np.testing.assert_allclose(axes.model_to_blender([0, 0, 1]), [0, -1, 0])  # facing +Z -> facing -Y
    np.testing.assert_allclose(axes.model_to_blender([0, 1, 0]), [0, 0, 1])  # up -> up
    np.testing.assert_allclose(axes.model_to_blender([1, 0, 0]), [1, 0, 0])  # left stays +X
    p = np.random.default_rng(0).normal(size=(7, 22, 3))
    np.testing.assert_allclose(axes.blender_to_model(axes.model_to_blender(p)), p, atol=1e-12)


def test_bone_rotations_found_in_blender_axes_are_the_model_space_ones_turned():
    """The retarget finds bone rotations from Blender-space joints directly (`basis`): the same rotations
    as in model space, expressed in Blender's axes, for any pose, rest pose or subset of joints."""
    rng = np.random.default_rng(3)
    M = axes.MODEL_TO_BLENDER
    rest = rest_positions(REST_OFFSETS * rng.uniform(0.8, 1.2, size=(22, 1)))
    p = random_person(rng, T=40)[0]
    for joints in (None, [sk.JOINT_INDEX["left_wrist"], sk.JOINT_INDEX["head"]]):
        G = ik.world_rotations(p, rest, joints=joints)
        in_blender = ik.world_rotations(axes.model_to_blender(p), axes.model_to_blender(rest), joints=joints, basis=M)
        np.testing.assert_allclose(in_blender, M @ G @ M.T, atol=1e-9)
        assert np.abs(G).sum() > 0
