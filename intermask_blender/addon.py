"""Registers and unregisters every class of the extension, symmetrically. Errors propagate: a class
that fails to register must not be skipped silently."""

import bpy

from . import generator
from .ui import operators, panel, prefs, props

CLASSES = [*props.CLASSES, *prefs.CLASSES, *operators.CLASSES, *panel.CLASSES]


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    props.register()


def unregister():
    generator.stop()  # no orphan generator process once the extension is off
    props.unregister()
    for cls in reversed(CLASSES):
        if getattr(cls, "is_registered", False):
            bpy.utils.unregister_class(cls)
