"""Reading an armature for the retargeter, and its bone map (stored on the object as JSON)."""

import numpy as np

from . import bonemap
from .retarget import RigSpec
from ..server.motion import skeleton as sk

BONE_MAP_KEY = "intermask_bone_map"


def _matrix(m):
    return np.array([list(row) for row in m], dtype=np.float64)


def bone_map(obj, detect=True):
    """The armature's bone map {joint: bone}; detected from bone names (and stored) when it has none."""
    text = obj.get(BONE_MAP_KEY)
    if text:
        _, mapping = bonemap.from_json(text)
        bonemap.validate(mapping, set(obj.data.bones.keys()))
        return mapping
    if not detect:
        raise bonemap.BoneMapError(f"{obj.name} has no InterMask bone map")
    family, mapping = bonemap.detect(obj.data.bones.keys())
    obj[BONE_MAP_KEY] = bonemap.to_json(mapping, family)
    return mapping


def read_rig(obj, mapping=None):
    """An armature object -> RigSpec, bones ordered parents first."""
    if obj is None or obj.type != "ARMATURE":
        raise bonemap.BoneMapError("choose an armature object")
    mapping = bone_map(obj) if mapping is None else mapping
    bones = list(obj.data.bones)
    order, seen = [], set()

    def visit(bone):
        if bone.name in seen:
            return
        if bone.parent is not None:
            visit(bone.parent)
        seen.add(bone.name)
        order.append(bone)

    for bone in bones:
        visit(bone)
    index = {b.name: i for i, b in enumerate(order)}
    parents = np.array([index[b.parent.name] if b.parent else -1 for b in order])
    rest = np.stack([_matrix(b.matrix_local) for b in order])
    joint_bones = np.array([index.get(mapping.get(name, ""), -1) for name in sk.JOINT_NAMES])
    modes = [obj.pose.bones[b.name].rotation_mode if obj.pose else "QUATERNION" for b in order]
    return RigSpec([b.name for b in order], parents, rest, _matrix(obj.matrix_world), joint_bones, modes)
