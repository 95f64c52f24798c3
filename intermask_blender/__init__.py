"""The Blender side of InterMask: UI, generator client, retargeting and baking. Never imports torch;
bpy is imported only by the modules that talk to Blender."""
