"""Registers and unregisters every class of the extension, symmetrically. Errors propagate: a class
that fails to register must not be skipped silently."""

import bpy

from .ui import prefs

CLASSES = [*prefs.CLASSES]


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)


def unregister():
    for cls in reversed(CLASSES):
        if getattr(cls, "is_registered", False):
            bpy.utils.unregister_class(cls)
