"""Sampling a rig's animation back into joint tracks in model space (bpy)."""

import numpy as np

from ..server.motion import axes


def joint_tracks(obj, mapping, frame_start, frame_end, scene=None):
    """World positions of the rig's SMPL joints over frames [frame_start, frame_end], in model space
    (metres, Y up): (T, 22, 3). Each joint rides on its bone where `RigSpec.anchors` puts it at rest (soft
    joints placed like SMPL's, missing ones interpolated), so what is sampled is what the solver aimed at."""
    import bpy
    from .rig import read_rig
    scene = scene or bpy.context.scene
    spec = read_rig(obj, mapping)
    carriers, points = spec.anchors()
    index = {b.name: i for i, b in enumerate(obj.pose.bones)}
    carrier = [index[spec.bone_names[b]] for b in carriers]
    buf = np.empty(len(index) * 16, dtype=np.float32)
    current = scene.frame_current
    frames = range(frame_start, frame_end + 1)
    out = np.empty((len(frames), len(carrier), 4))
    try:
        for t, f in enumerate(frames):
            scene.frame_set(f)
            obj.pose.bones.foreach_get("matrix", buf)
            transposed = buf.reshape(-1, 4, 4)[carrier]  # column-major: each row of it is a column
            out[t] = np.einsum("ja,jab->jb", points, transposed)
    finally:
        scene.frame_set(current)
    world = out @ spec.object_matrix.T
    return axes.blender_to_model(world[..., :3])
