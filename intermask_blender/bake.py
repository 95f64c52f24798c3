"""Writing solved poses onto a rig as a new Action (bpy): bulk keys, the previous action stashed."""

import re

import numpy as np

from . import actions
from .retarget import basis_channels, pose_matrices


def action_name(prompt, rig_name, limit=48):
    slug = re.sub(r"\s+", " ", prompt).strip()[:limit].rstrip()
    return f"IM {slug} ({rig_name})"


def keyed_bones(rig):
    """Mapped bones and every bone above them (so unmapped parents sit at rest in the new action)."""
    return sorted({a for b in rig.joint_bones[rig.joint_bones >= 0] for a in rig.ancestors(b)})


def bake(obj, rig, solved, name, start_frame=1):
    """Key `solved` (a retarget.Solved) onto armature `obj` as a new action named `name`, starting at
    `start_frame`. The previous action is stashed in the NLA, never overwritten. Returns the action."""
    import bpy
    basis = pose_matrices(rig, solved)
    quats, locs = basis_channels(basis)
    T = basis.shape[0]
    frames = np.arange(start_frame, start_frame + T, dtype=np.float32)
    action = bpy.data.actions.new(name)
    actions.stash(obj)
    actions.assign(obj, action)
    container = actions.fcurves_of(action, obj)
    root_bones = set(rig.ancestors(rig.root_driver()))
    from mathutils import Quaternion
    for b in keyed_bones(rig):
        bone = rig.bone_names[b]
        pb = obj.pose.bones[bone]
        path = f'pose.bones["{bpy.utils.escape_identifier(bone)}"]'
        mode = pb.rotation_mode
        if mode == "QUATERNION":
            for i in range(4):
                actions.write_keys(container, f"{path}.rotation_quaternion", i, bone, frames, quats[:, b, i])
        elif mode == "AXIS_ANGLE":
            aa = np.array([[*axis, angle] for axis, angle in (Quaternion(q).to_axis_angle() for q in quats[:, b])])
            for i, column in enumerate((3, 0, 1, 2)):
                actions.write_keys(container, f"{path}.rotation_axis_angle", i, bone, frames, aa[:, column])
        else:
            eulers, previous = [], None
            for q in quats[:, b]:
                e = Quaternion(q).to_euler(mode) if previous is None else Quaternion(q).to_euler(mode, previous)
                eulers.append(tuple(e))
                previous = e
            eulers = np.array(eulers)
            for i in range(3):
                actions.write_keys(container, f"{path}.rotation_euler", i, bone, frames, eulers[:, i])
        if b in root_bones:
            for i in range(3):
                actions.write_keys(container, f"{path}.location", i, bone, frames, locs[:, b, i])
    action["intermask"] = True
    return action

