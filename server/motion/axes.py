"""Model space (InterHuman: metres, Y up, person 1 facing +Z) <-> Blender space (metres, Z up, facing -Y).

The change is the proper rotation (x, y, z) -> (x, -z, y): +90 degrees about X. SMPL's left is +X in both."""

import numpy as np

MODEL_TO_BLENDER = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
BLENDER_TO_MODEL = MODEL_TO_BLENDER.T
# a signed permutation: Blender axis i is model axis _AXIS[i] times _SIGN[i]
_AXIS = np.abs(MODEL_TO_BLENDER).argmax(1)
_SIGN = MODEL_TO_BLENDER[np.arange(3), _AXIS]


def model_to_blender(points):
    """Points (..., 3) in model space -> Blender space."""
    return np.asarray(points) @ MODEL_TO_BLENDER.T


def blender_to_model(points):
    """Points (..., 3) in Blender space -> model space."""
    return np.asarray(points) @ BLENDER_TO_MODEL.T


def rotation_model_to_blender(matrices):
    """World rotation matrices (..., 3, 3) expressed in model axes -> the same rotations in Blender axes:
    MODEL_TO_BLENDER @ R @ BLENDER_TO_MODEL, by indexing (batched 3x3 products are slow in numpy)."""
    return np.asarray(matrices)[..., _AXIS[:, None], _AXIS[None, :]] * np.outer(_SIGN, _SIGN)
