"""The add-on's module name, which Blender uses as the preferences key: `bl_ext.<repo>.intermask` when
installed as an extension (this package's parent)."""

ADDON_ID = __package__.rpartition(".")[0] or __package__
