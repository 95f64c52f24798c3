"""Writing solved poses onto a rig (bpy): a new Action with bulk keys (the previous action stashed in the
NLA), or a copy of the current Action with one frame range replaced."""

import re

import numpy as np

from . import actions, splice
from .retarget import pose_channels


def action_name(prompt, rig_name, limit=48, suffix=""):
    slug = re.sub(r"\s+", " ", prompt).strip()[:limit].rstrip()
    return f"IM {slug} ({rig_name}){suffix}"


def channels(obj, rig, solved):
    """Every keyed channel of `solved` on `obj` -> [(data path, index, bone, values (T,))], in the
    rotation mode of each pose bone (Euler values kept continuous)."""
    import bpy
    from mathutils import Quaternion
    quats, locs = pose_channels(rig, solved)
    root_bones = set(rig.ancestors(rig.root_driver()))
    out = []
    for k, b in enumerate(rig.keyed_bones()):
        bone = rig.bone_names[b]
        path = f'pose.bones["{bpy.utils.escape_identifier(bone)}"]'
        mode = obj.pose.bones[bone].rotation_mode
        if mode == "QUATERNION":
            out += [(f"{path}.rotation_quaternion", i, bone, quats[:, k, i]) for i in range(4)]
        elif mode == "AXIS_ANGLE":
            aa = np.array([[angle, *axis] for axis, angle in (Quaternion(q).to_axis_angle() for q in quats[:, k])])
            out += [(f"{path}.rotation_axis_angle", i, bone, aa[:, i]) for i in range(4)]
        else:
            eulers, previous = [], None
            for q in quats[:, k]:
                previous = Quaternion(q).to_euler(mode) if previous is None else Quaternion(q).to_euler(mode, previous)
                eulers.append(tuple(previous))
            eulers = np.array(eulers)
            out += [(f"{path}.rotation_euler", i, bone, eulers[:, i]) for i in range(3)]
        if b in root_bones:
            out += [(f"{path}.location", i, bone, locs[:, k, i]) for i in range(3)]
    return out


def bake(obj, rig, solved, name, start_frame=1, stash=True):
    """Key `solved` (a retarget.Solved) onto armature `obj` as a new action named `name`, starting at
    `start_frame`, and make it the active action. With `stash`, the previous action is kept in a muted NLA
    track first (never overwritten). Returns the action."""
    import bpy
    values = channels(obj, rig, solved)
    frames = np.arange(start_frame, start_frame + len(values[0][3]), dtype=np.float32)
    action = bpy.data.actions.new(name)
    if stash:
        actions.stash(obj)
    actions.assign(obj, action)
    actions.write_keys(actions.fcurves_of(action, obj), frames, values)
    action["intermask"] = True
    return action


def splice_range(obj, rig, solved, name, solved_start, start, end, source=None, stash=True, blend=4):
    """A copy of `source` (default: `obj`'s current action), named `name`, in which frames [start, end]
    follow `solved` (whose first frame sits at `solved_start`) and every frame outside the range evaluates
    exactly as before. With `stash`, the current action is kept in the NLA first; the copy becomes the
    active action. Returns it."""
    import bpy
    values = channels(obj, rig, solved)
    frames = np.arange(solved_start, solved_start + len(values[0][3]), dtype=np.float32)
    if source is None and obj.animation_data is not None:
        source = obj.animation_data.action
    action = source.copy() if source is not None else bpy.data.actions.new(name)
    action.name = name
    if stash:
        actions.stash(obj)
    actions.assign(obj, action)
    container = actions.fcurves_of(action, obj)
    make = actions.fcurve_maker(container)
    for path, index, bone, v in values:
        fc = actions.find_fcurve(container, path, index)
        if fc is None:
            constant = splice.default_value(path, index)
            old_keys, old_curve = [], lambda f, c=constant: np.full(len(f), c)
            fc = make(path, index, bone)
        else:
            old_keys = [k.co[0] for k in fc.keyframe_points]
            old_curve = lambda f, fc=fc: np.array([fc.evaluate(x) for x in f])  # noqa: E731
        keys = splice.splice(old_keys, old_curve, frames, v, start, end, blend)
        actions.replace_range(fc, start, end, *keys)
    action["intermask"] = True
    return action
