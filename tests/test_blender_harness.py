"""The harness itself: Blender runs hermetically and registered classes are cleaned up."""

import pytest

pytestmark = pytest.mark.legacy


def test_blender_user_folders_are_temporary(blender):
    import os
    user = blender.bpy.utils.resource_path("USER")
    assert user.startswith(os.environ["BLENDER_USER_RESOURCES"])


def test_scene_starts_empty_and_registered_classes_are_released(blender):
    bpy = blender.bpy
    assert len(bpy.data.objects) == 0

    class INTERMASK_OT_probe(bpy.types.Operator):
        bl_idname = "intermask.harness_probe"
        bl_label = "Probe"

        def execute(self, context):
            return {"FINISHED"}

    blender.register(INTERMASK_OT_probe)
    assert bpy.ops.intermask.harness_probe() == {"FINISHED"}
    blender.close()
    assert not INTERMASK_OT_probe.is_registered
