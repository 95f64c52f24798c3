"""InterHuman motion representation (pure numpy): skeleton, 262-d feature codec, normalisation,
mirroring and the model <-> Blender coordinate change."""
