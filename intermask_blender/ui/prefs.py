"""Add-on preferences: which Python runs the generator, on which device, with which model; the
generator's status with start, stop and release; a button that creates the generator's environment."""

import bpy

from .. import generator
from ..addon_id import ADDON_ID
from ..venv import EnvBuilder

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
_builder = None  # the environment being created, if any


def builder():
    return _builder


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
    env_status: bpy.props.StringProperty(name="Environment", options={"SKIP_SAVE"},
                                         description="Outcome of the last 'Create generator environment'")

    def draw(self, context):
        layout = self.layout
        row = layout.row(align=True)
        row.prop(self, "generator_python")
        row.operator("intermask.create_generator_env", icon="CONSOLE")
        if self.env_status:
            layout.label(text=self.env_status, icon="INFO")
        row = layout.row()
        row.prop(self, "device")
        row.prop(self, "threads")
        layout.prop(self, "model_source")
        if self.model_source != "EMBEDDED":
            layout.prop(self, "model_path")
        box = layout.box()
        box.label(text=generator.status(), icon="SETTINGS")
        row = box.row(align=True)
        row.operator("intermask.generator_start", icon="PLAY")
        row.operator("intermask.generator_stop", icon="PAUSE")
        row.operator("intermask.release", text="Release model", icon="UNLINKED")


class INTERMASK_OT_create_generator_env(bpy.types.Operator):
    """Create a Python environment with torch and the model's pinned packages for the generator
    (about 1 GB; needs the package index)"""
    bl_idname = "intermask.create_generator_env"
    bl_label = "Create generator environment"

    _timer = None

    def execute(self, context):
        global _builder
        prefs = context.preferences.addons[ADDON_ID].preferences
        if _builder is not None and _builder.state == "running":
            self.report({"WARNING"}, "the generator environment is already being created")
            return {"CANCELLED"}
        _builder = EnvBuilder(generator.default_venv()).start()
        if bpy.app.background or context.window is None:
            _builder.join()
            return self._done(prefs)
        self._timer = context.window_manager.event_timer_add(0.5, window=context.window)
        context.window_manager.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        prefs = context.preferences.addons[ADDON_ID].preferences
        prefs.env_status = _builder.outcome
        for window in context.window_manager.windows:
            for area in window.screen.areas:
                area.tag_redraw()
        if _builder.state == "running":
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self._timer)
        return self._done(prefs)

    def _done(self, prefs):
        prefs.env_status = _builder.outcome
        if _builder.state == "done":
            prefs.generator_python = str(generator.venv_python(_builder.folder))
            self.report({"INFO"}, _builder.outcome)
            return {"FINISHED"}
        self.report({"ERROR"}, _builder.outcome)
        return {"CANCELLED"}


CLASSES = [INTERMASK_AP_preferences, INTERMASK_OT_create_generator_env]
