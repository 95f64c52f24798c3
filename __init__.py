"""Blender's entry point for the InterMask extension: hands register/unregister on to intermask_blender.

Imports are deferred so the package (and its pure-numpy parts) can be imported without Blender."""


def register():
    from .intermask_blender import addon
    addon.register()


def unregister():
    from .intermask_blender import addon
    addon.unregister()
