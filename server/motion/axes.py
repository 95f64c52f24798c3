"""Model space (InterHuman: metres, Y up, person 1 facing +Z) <-> Blender space (metres, Z up, facing -Y).

The change is the proper rotation (x, y, z) -> (x, -z, y): +90 degrees about X. SMPL's left is +X in both."""

import numpy as np

MODEL_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
BLENDER_TO_MODEL = MODEL_TO_BLENDER.T


def model_to_blender(points):
    """Points (..., 3) in model space -> Blender space."""
    return np.asarray(points) @ MODEL_TO_BLENDER.T


def blender_to_model(points):
    """Points (..., 3) in Blender space -> model space."""
    return np.asarray(points) @ BLENDER_TO_MODEL.T

