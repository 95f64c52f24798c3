"""Time curves for scripting a scene: smooth envelopes, pulses and eased paths, all sampled on frame times."""

import numpy as np

from .body import smoothstep


def envelope(t, start, end, ramp):
    """0 before `start`, easing up to 1 over `ramp` seconds, held, easing back to 0 by `end`."""
    ramp = max(ramp, 1e-3)
    return smoothstep((t - start) / ramp) * smoothstep((end - t) / ramp)


def pulses(t, start, period, count):
    """A train of `count` smooth bumps (0..1..0), one per `period` seconds from `start`."""
    phase = (t - start) / period
    inside = (phase >= 0) & (phase < count)
    return np.where(inside, np.sin(np.pi * (phase % 1.0)) ** 2, 0.0)


def eased(t, keys):
    """A value moving between keyframes [(time, value), ...] with ease-in/out on each segment; values may be
    scalars or vectors. Constant before the first and after the last key."""
    times = np.array([k[0] for k in keys], dtype=float)
    values = np.array([np.atleast_1d(k[1]) for k in keys], dtype=float)
    out = np.empty((len(t), values.shape[1]))
    seg = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(keys) - 1)
    for i, ti in enumerate(t):
        k = seg[i]
        if k >= len(keys) - 1:
            out[i] = values[-1]
            continue
        u = smoothstep((ti - times[k]) / max(times[k + 1] - times[k], 1e-6))
        out[i] = values[k] + (values[k + 1] - values[k]) * u
    return out if values.shape[1] > 1 else out[:, 0]


def walked(t, keys):
    """A root path through keyframes [(time, (x, z)), ...] at constant speed within each segment, with only
    the first start and the last stop eased: walking, not stop-and-go at every waypoint."""
    times = np.array([k[0] for k in keys], dtype=float)
    points = np.array([k[1] for k in keys], dtype=float)
    # ease the time itself near the ends so the walker accelerates and decelerates
    ease = 0.6
    t0, t1 = times[0], times[-1]
    local = np.clip(t, t0, t1)
    warped = local.copy()
    if t1 - t0 > 2 * ease:
        head = local < t0 + ease
        tail = local > t1 - ease
        warped[head] = t0 + ease * (((local[head] - t0) / ease) ** 2) / 2
        warped[tail] = t1 - ease * (((t1 - local[tail]) / ease) ** 2) / 2
        mid = ~(head | tail)
        warped[mid] = t0 + ease / 2 + (local[mid] - t0 - ease) * ((t1 - t0 - ease) / (t1 - t0 - 2 * ease))
    return np.stack([np.interp(warped, times, points[:, 0]), np.interp(warped, times, points[:, 1])], -1)


def heading(path, fallback):
    """Facing angles (T,) along a path (T, 2), keeping `fallback` (T,) where the path does not move."""
    d = np.gradient(path, axis=0)
    speed = np.linalg.norm(d, axis=-1)
    yaw = np.where(speed > 1e-4, np.arctan2(d[:, 0], d[:, 1]), np.nan)
    yaw = np.where(np.isnan(yaw), fallback, yaw)
    return np.unwrap(yaw)


def towards(source, target):
    """Facing angles (T,) from root paths `source` towards `target`, (T, 2) each."""
    d = target - source
    return np.unwrap(np.arctan2(d[:, 0], d[:, 1]))
