"""Sampling a rig's animation back into joint tracks in model space (bpy)."""

import numpy as np

from ..server.motion import axes, skeleton as sk


def joint_tracks(obj, mapping, frame_start, frame_end, scene=None):
    """World positions of the mapped joints over frames [frame_start, frame_end], in model space
    (metres, Y up): (T, 22, 3). Unmapped optional joints, and those whose bone starts where its parent
    joint's does, are interpolated from their neighbours (as `RigSpec.rest_joints` does at rest)."""
    import bpy
    from .retarget import coincident_joints, fill_missing_joints
    scene = scene or bpy.context.scene
    names = [b.name for b in obj.pose.bones]
    index = {n: i for i, n in enumerate(names)}
    joint_bone = [index.get(mapping.get(j, ""), -1) for j in sk.JOINT_NAMES]
    world = np.array(obj.matrix_world, dtype=np.float64)
    buf = np.empty(len(names) * 16, dtype=np.float32)
    current = scene.frame_current
    frames = range(frame_start, frame_end + 1)
    heads = np.empty((len(frames), len(names), 3))
    try:
        for t, f in enumerate(frames):
            scene.frame_set(f)
            obj.pose.bones.foreach_get("matrix", buf)
            heads[t] = buf.reshape(-1, 4, 4)[:, 3, :3]  # column-major: translation in the last row
    finally:
        scene.frame_set(current)
    heads = heads @ world[:3, :3].T + world[:3, 3]
    out = np.full((len(frames), sk.N_JOINTS, 3), np.nan)
    rest = np.full((sk.N_JOINTS, 3), np.nan)
    for j, b in enumerate(joint_bone):
        if b >= 0:
            out[:, j] = heads[:, b]
            rest[j] = obj.data.bones[names[b]].head_local
    # in world space, as RigSpec.mapped_heads judges them (an imported rig's object scale may be 0.01)
    rest = rest @ world[:3, :3].T + world[:3, 3]
    out[:, list(coincident_joints(rest))] = np.nan
    out = np.stack([fill_missing_joints(frame) for frame in out]) if np.isnan(out).any() else out
    return axes.blender_to_model(out)
