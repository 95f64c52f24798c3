"""Replacing a frame range of a curve: outside the range the curve evaluates as before (pure numpy)."""

import numpy as np
import pytest

from intermask.intermask_blender import splice
from intermask.server.motion.timing import resample


def linear_curve(frames, values):
    return lambda f: np.interp(f, frames, values)


@pytest.mark.parametrize("old_frames", [np.arange(1, 101), np.array([1.0, 30.0, 90.0]), np.array([50.0])])
def test_outside_the_range_the_curve_is_unchanged(old_frames):
    rng = np.random.default_rng(0)
    old_values = rng.normal(size=len(old_frames))
    old = linear_curve(old_frames, old_values)
    new_frames = np.arange(1, 101, dtype=float)
    start, end = 40, 60
    frames, values = splice.splice(old_frames, old, new_frames, rng.normal(size=100) + 5, start, end)
    kept = (old_frames < start) | (old_frames > end)
    all_frames = np.concatenate([old_frames[kept], frames])
    all_values = np.concatenate([old_values[kept], values])
    order = np.argsort(all_frames)
    after = linear_curve(all_frames[order], all_values[order])
    outside = np.r_[np.arange(-5, start), np.arange(end + 1, 110)]
    np.testing.assert_allclose(after(outside), old(outside), atol=1e-9)
    inside = np.arange(start + 5, end - 4)  # past the cross-fade: the new values
    assert np.all(after(inside) > 3)


def test_cross_fade_starts_at_the_old_curve():
    frames, values = splice.splice([1.0, 100.0], lambda f: np.zeros(len(f)), np.arange(1, 101.0),
                                   np.ones(100), 40, 60, blend=4)
    inside = (frames >= 40) & (frames <= 60)
    ramp = values[inside]
    assert 0 < ramp[0] < 0.25 and ramp[10] == 1.0 and 0 < ramp[-1] < 0.25
    assert np.all(np.diff(ramp[:5]) > 0)


def test_a_channel_without_keys_holds_its_default_outside():
    frames, values = splice.splice([], lambda f: np.full(len(f), 1.0), np.arange(1, 51.0), np.zeros(50), 10, 20)
    assert frames[0] == 9 and frames[-1] == 21 and values[0] == values[-1] == 1.0
    assert splice.default_value('pose.bones["x"].rotation_quaternion', 0) == 1.0


def test_resample_keeps_duration_and_endpoints():
    track = np.linspace(0, 1, 31)[:, None] * np.ones((1, 3))  # 1 s at 30 fps
    out = resample(track, 30, 24, 25)
    np.testing.assert_allclose(out[:, 0], np.linspace(0, 1, 25), atol=1e-9)
    back = resample(out, 24, 30, 31)
    np.testing.assert_allclose(back, track, atol=1e-9)
