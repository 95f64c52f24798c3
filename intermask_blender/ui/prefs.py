"""Add-on preferences: which Python runs the generator, on which device, with which model."""

import bpy

from ..addon_id import ADDON_ID

DEVICE_ITEMS = (
    ("AUTO", "Automatic", "CUDA if present, then Apple MPS, then the CPU"),
    ("CUDA", "CUDA", "An NVIDIA GPU"),
    ("MPS", "Apple MPS", "Apple silicon GPU"),
    ("CPU", "CPU", "The processor only"),
)
MODEL_ITEMS = (
    ("EMBEDDED", "Embedded default", "The small model shipped with the extension (synthetic training data)"),
    ("OFFICIAL", "Official checkpoint", "A folder with the released InterMask weights (opt.txt, model/*.tar)"),
    ("OURS", "Converted model", "A folder in this extension's format (safetensors + config + statistics)"),
)


class INTERMASK_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = ADDON_ID

    generator_python: bpy.props.StringProperty(
        name="Generator Python",
        description="Python interpreter with torch installed that runs the model; empty to detect one",
        subtype="FILE_PATH",
        default="",
    )
    device: bpy.props.EnumProperty(
        name="Device", description="Where the model runs", items=DEVICE_ITEMS, default="AUTO")
    model_source: bpy.props.EnumProperty(
        name="Model", description="Which weights the generator loads", items=MODEL_ITEMS, default="EMBEDDED")
    model_path: bpy.props.StringProperty(
        name="Model folder", description="Folder of the official checkpoint or converted model",
        subtype="DIR_PATH", default="")
    threads: bpy.props.IntProperty(
        name="CPU threads", description="Threads the generator may use on the CPU (0 = let torch decide)",
        default=1, min=0, max=256)

    def draw(self, context):
        layout = self.layout
        layout.prop(self, "generator_python")
        row = layout.row()
        row.prop(self, "device")
        row.prop(self, "threads")
        layout.prop(self, "model_source")
        if self.model_source != "EMBEDDED":
            layout.prop(self, "model_path")


CLASSES = [INTERMASK_AP_preferences]
