"""The generator process: InterMask model, motion representation, sampling and the JSON-lines server.

Nothing here imports bpy. `server.motion` is pure numpy so that the Blender side can share it."""
