"""Left/right mirroring (reflection across the model's X = 0 plane) of motion and of captions."""

import re

import numpy as np

from . import skeleton as sk
from .features import CONTACTS, POSITIONS, ROTATIONS, VELOCITIES, RAW_POSITIONS, RAW_ROTATIONS

# In the InterHuman 6D layout [R00, R01, R10, R11, R20, R21], conjugating by diag(-1, 1, 1) negates these.
_ROT6D_SIGN = np.array([1.0, -1.0, -1.0, 1.0, -1.0, 1.0], dtype=np.float32)
_X_SIGN = np.array([-1.0, 1.0, 1.0], dtype=np.float32)
# Rotations are stored for joints 1..21, so their mirror permutation is the joints' one shifted by one.
_ROT_PERMUTATION = [j - 1 for j in sk.MIRROR_PERMUTATION[1:]]


def _mirror_points(flat, T):
    return (flat.reshape(T, sk.N_JOINTS, 3)[:, sk.MIRROR_PERMUTATION] * _X_SIGN).reshape(T, -1)


def _mirror_rot6d(flat, T):
    return (flat.reshape(T, sk.N_JOINTS - 1, 6)[:, _ROT_PERMUTATION] * _ROT6D_SIGN).reshape(T, -1)


def mirror_raw(raw):
    """An InterHuman raw (T, 192) array mirrored (positions and rotations; the X axis is shared with Y-up)."""
    raw = np.asarray(raw, dtype=np.float32)
    T = raw.shape[0]
    out = raw.copy()
    out[:, RAW_POSITIONS] = _mirror_points(raw[:, RAW_POSITIONS], T)
    out[:, RAW_ROTATIONS] = _mirror_rot6d(raw[:, RAW_ROTATIONS], T)
    return out


def mirror_features(features):
    """(T, 262) features mirrored; equal to encoding the mirrored motion (canonicalisation commutes)."""
    f = np.asarray(features, dtype=np.float32)
    T = f.shape[0]
    out = np.empty_like(f)
    out[:, POSITIONS] = _mirror_points(f[:, POSITIONS], T)
    out[:, VELOCITIES] = _mirror_points(f[:, VELOCITIES], T)
    out[:, ROTATIONS] = _mirror_rot6d(f[:, ROTATIONS], T)
    out[:, CONTACTS] = f[:, CONTACTS][:, sk.CONTACT_MIRROR_PERMUTATION]
    return out


_SWAPS = {
    "left": "right", "right": "left",
    "clockwise": "counterclockwise", "counterclockwise": "clockwise",
    "counter-clockwise": "clockwise", "anticlockwise": "clockwise", "anti-clockwise": "clockwise",
}
# Longest alternatives first so "counterclockwise" is never read as "counter" + "clockwise".
_WORD = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _SWAPS), key=len, reverse=True)) + r")\b",
                   re.IGNORECASE)


def _match_case(word, like):
    if like.isupper():
        return word.upper()
    if like[0].isupper():
        return word[0].upper() + word[1:]
    return word


def mirror_caption(text):
    """Swap left/right and clockwise/counterclockwise, keeping capitalisation."""
    return _WORD.sub(lambda m: _match_case(_SWAPS[m.group(0).lower()], m.group(0)), text)
