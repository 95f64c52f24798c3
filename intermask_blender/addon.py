"""Registers and unregisters every class of the extension, symmetrically. Errors propagate: a class
that fails to register must not be skipped silently."""

import bpy

from . import generator
from .addon_id import ADDON_ID
from .ui import operators, panel, prefs, props

CLASSES = [*props.CLASSES, *prefs.CLASSES, *operators.CLASSES, *panel.CLASSES]
_cli = None


def bake_command(argv):
    """`blender -b [template.blend] -c intermask_bake ...`: the batch bake, with the open file as template
    and the preferences' generator Python unless the command line names one."""
    from . import batch
    addon = bpy.context.preferences.addons.get(ADDON_ID)
    python = addon.preferences.generator_python if addon else ""
    if python and "--python" not in argv:
        argv = [*argv, "--python", bpy.path.abspath(python)]
    return batch.main(argv, open_file=bpy.data.filepath or None)


def register():
    global _cli
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    props.register()
    if hasattr(bpy.utils, "register_cli_command"):
        _cli = bpy.utils.register_cli_command("intermask_bake", bake_command)


def unregister():
    global _cli
    if _cli is not None:
        bpy.utils.unregister_cli_command(_cli)
        _cli = None
    generator.stop()  # no orphan generator process once the extension is off
    props.unregister()
    for cls in reversed(CLASSES):
        if getattr(cls, "is_registered", False):
            bpy.utils.unregister_class(cls)
