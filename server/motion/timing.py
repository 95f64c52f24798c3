"""Changing a track's frame rate by linear interpolation along its first axis."""

import numpy as np


def resample(track, src_fps, dst_fps, frames=None):
    """`track` (T, ...) sampled at `src_fps` -> (frames, ...) at `dst_fps`; frame i is the source at time
    i / dst_fps, clamped to the last source frame. `frames` defaults to the same duration, rounded."""
    track = np.asarray(track)
    T = len(track)
    if frames is None:
        frames = max(1, int(round(T * dst_fps / src_fps)))
    where = np.minimum(np.arange(frames) * (src_fps / dst_fps), T - 1)
    lo = np.floor(where).astype(int)
    hi = np.minimum(lo + 1, T - 1)
    w = (where - lo).reshape(-1, *([1] * (track.ndim - 1))).astype(track.dtype if track.dtype.kind == "f" else float)
    return track[lo] * (1 - w) + track[hi] * w
