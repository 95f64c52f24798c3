import numpy as np
import pytest

from motion_samples import axis_angle_to_matrix
from server.motion import rotations as R


@pytest.fixture
def rotations():
    rng = np.random.default_rng(0)
    return axis_angle_to_matrix(rng.normal(size=(200, 3)) * 1.5)


def test_quaternion_matrix_round_trip(rotations):
    q = R.matrix_to_quaternion(rotations)
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(R.quaternion_to_matrix(q), rotations, atol=1e-10)
    v = np.random.default_rng(1).normal(size=(200, 3))
    np.testing.assert_allclose(R.qrot(q, v), (rotations @ v[..., None])[..., 0], atol=1e-10)
    np.testing.assert_allclose(R.quaternion_to_matrix(R.qmul(q[:-1], q[1:])), rotations[:-1] @ rotations[1:],
                               atol=1e-10)
    np.testing.assert_allclose(R.qrot(R.qinv(q), R.qrot(q, v)), v, atol=1e-10)


def test_rot6d_round_trip(rotations):
    np.testing.assert_allclose(R.rot6d_to_matrix(R.matrix_to_rot6d(rotations)), rotations, atol=1e-10)


def test_qbetween_maps_direction():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    rotated = R.qrot(R.qbetween(a, b), a)
    np.testing.assert_allclose(rotated / np.linalg.norm(rotated, axis=-1, keepdims=True),
                               b / np.linalg.norm(b, axis=-1, keepdims=True), atol=1e-10)


def test_make_continuous_removes_sign_flips(rotations):
    q = R.matrix_to_quaternion(axis_angle_to_matrix(np.linspace(0, 6, 100)[:, None] * [0.0, 1.0, 0.0]))
    flipped = q * np.where(np.random.default_rng(3).random(100) < 0.5, -1.0, 1.0)[:, None]
    fixed = R.make_continuous(flipped)
    assert ((fixed[1:] * fixed[:-1]).sum(-1) > 0).all()
    np.testing.assert_allclose(R.quaternion_to_matrix(fixed), R.quaternion_to_matrix(q), atol=1e-10)
