"""A built-in armature with our SMPL-22 proportions, for users without a rig of their own (bpy)."""

import numpy as np

from ..server.motion import axes, kinematics, skeleton as sk
from ..server.motion.ik import AIM_CHILD
from . import bonemap
from .rig import BONE_MAP_KEY


def create(name="InterMask Rig", height=None, location=(0.0, 0.0, 0.0), collection=None):
    """Create the armature object (rest T-pose, facing -Y, feet on the floor) scaled to `height` metres
    (crown to floor; None keeps ours, about 1.71 m). Returns the object."""
    import bpy
    scale = 1.0 if height is None else height / kinematics.standing_height()
    joints = axes.model_to_blender(kinematics.rest_positions() * scale) + np.asarray(location)
    arm = bpy.data.armatures.new(name)
    obj = bpy.data.objects.new(name, arm)
    (collection or bpy.context.scene.collection).objects.link(obj)
    view_layer = bpy.context.view_layer
    previous = view_layer.objects.active
    view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        edit = {}
        for j, joint in enumerate(sk.JOINT_NAMES):
            bone = arm.edit_bones.new(joint)
            head = joints[j]
            if j in AIM_CHILD:
                tail = joints[AIM_CHILD[j]]
            else:  # leaves continue their parent's direction
                parent = sk.PARENTS[j]
                tail = head + 0.5 * (joints[j] - joints[parent]) if j != sk.JOINT_INDEX["head"] \
                    else head + np.array([0.0, 0.0, 0.17 * scale])
            bone.head, bone.tail = head.tolist(), tail.tolist()
            bone.roll = 0.0
            if sk.PARENTS[j] >= 0:
                bone.parent = edit[sk.PARENTS[j]]
                bone.use_connect = AIM_CHILD.get(sk.PARENTS[j]) == j
            edit[j] = bone
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = previous if previous is not None else obj
    for pb in obj.pose.bones:
        pb.rotation_mode = "QUATERNION"
    obj[BONE_MAP_KEY] = bonemap.to_json({j: j for j in sk.JOINT_NAMES}, "SMPL")
    return obj
