"""Replacing one frame range of an animation curve so that the curve evaluates exactly as before at every
frame outside the range (pure numpy: the Blender side removes the keys inside the range and inserts these).

Keys outside the range keep their frames, values and handles; the segments that crossed the range's
edges are pinned by anchor keys at every frame between the nearest kept key and the edge, valued from
the old curve, so hand-made Bezier curves stay as they were too."""

import numpy as np

# Evaluated value of a channel that has no curve (Blender's defaults for pose bones).
DEFAULTS = {"location": (0.0, 0.0, 0.0), "rotation_quaternion": (1.0, 0.0, 0.0, 0.0),
            "rotation_euler": (0.0, 0.0, 0.0), "rotation_axis_angle": (0.0, 0.0, 1.0, 0.0),
            "scale": (1.0, 1.0, 1.0)}


def default_value(data_path, index):
    return DEFAULTS[data_path.rpartition(".")[2]][index]


def edge_weights(frames, start, end, blend):
    """0 at the range's edges rising smoothly to 1 `blend` frames inside it, so the new motion cross-fades
    from and back into the old one instead of jumping."""
    if blend <= 0:
        return np.ones(len(frames))
    x = np.clip(np.minimum(frames - start + 1, end - frames + 1) / (blend + 1), 0.0, 1.0)
    return x * x * (3 - 2 * x)


def anchors(old_key_frames, start, end):
    """Integer frames outside [start, end] that must be pinned to the old curve once its keys inside the
    range are gone: every frame between the nearest kept key and each edge (one frame if none is kept)."""
    keys = np.asarray(old_key_frames, float)
    before, after = keys[keys < start], keys[keys > end]
    first = int(np.floor(before.max())) + 1 if len(before) else start - 1
    last = int(np.ceil(after.min())) - 1 if len(after) else end + 1
    return np.concatenate([np.arange(first, start), np.arange(end + 1, last + 1)]).astype(float)


def splice(old_key_frames, old_curve, new_frames, new_values, start, end, blend=4):
    """The keys to insert once the old keys inside [start, end] are removed -> (frames, values): anchors
    outside the range and the new keys inside it, cross-faded with the old curve near the edges.
    `old_curve(frames) -> values` evaluates the channel as it was (a constant for a channel without keys)."""
    new_frames, new_values = np.asarray(new_frames, float), np.asarray(new_values, float)
    inside = (new_frames >= start) & (new_frames <= end)
    f, v = new_frames[inside], new_values[inside]
    w = edge_weights(f, start, end, blend)
    pins = anchors(old_key_frames, start, end)
    frames = np.concatenate([pins, f])
    values = np.concatenate([old_curve(pins), old_curve(f) * (1 - w) + v * w])
    order = np.argsort(frames, kind="stable")
    return frames[order], values[order]
