"""The synthetic corpus: random scenes of every family with captions, as joint positions and as the model's
features, written to and read from one .npz file per split."""

from dataclasses import dataclass

import numpy as np

from ..motion import ik
from ..motion import skeleton as sk
from ..motion.features import encode_pair
from ..motion.rotations import matrix_to_rot6d
from .captions import caption
from .families import APPROACHABLE, FAMILIES, Ctx

APPROACH_SHARE = 0.3  # of the scenes of approachable families start with a walk towards each other


CAPTIONS_PER_SCENE = 3  # differently worded descriptions of each scene, for the text side of training


@dataclass
class Sample:
    family: str
    captions: list
    positions: tuple  # two (T, 22, 3) arrays, Y up, metres; the initiator first
    contacts: list  # families.Contact
    approach: bool


def sample(rng, family):
    """One scene at 30 fps (stepping is planned frame by frame, so it is scripted at the finer rate)."""
    approach = family in APPROACHABLE and rng.random() < APPROACH_SHARE
    ctx = Ctx(rng, sk.FPS, approach=approach)
    scene = FAMILIES[family](ctx)
    hand = scene.slots.get("hand", ctx.hand)
    texts = [caption(family, rng, hand=hand, approach=approach) for _ in range(CAPTIONS_PER_SCENE)]
    return Sample(family, texts, scene.positions, scene.contacts, approach)


def samples(n, seed, families=None):
    """`n` scenes cycling through the families (equal counts), reproducible from `seed`."""
    names = sorted(families or FAMILIES)
    rng = np.random.default_rng(seed)
    return [sample(rng, names[i % len(names)]) for i in range(n)]


def resample(positions, fps):
    """30 fps positions -> `fps` (a divisor of 30) by keeping every n-th frame."""
    if sk.FPS % fps:
        raise ValueError(f"fps must divide {sk.FPS}, got {fps}")
    return positions[:: sk.FPS // fps]


def pair_features(positions1, positions2):
    """Two persons' positions -> their (T - 1, 262) features in person 1's canonical frame (rotations by IK)."""
    rot = [matrix_to_rot6d(ik.local_rotations(p)[:, 1:]) for p in (positions1, positions2)]
    return encode_pair(positions1, rot[0], positions2, rot[1])


def write(path, items, fps):
    """Save samples' features at `fps` (concatenated, with lengths), captions and families to one .npz."""
    feats = [np.stack(pair_features(*(resample(p, fps) for p in s.positions)), 0) for s in items]
    lengths = np.array([f.shape[1] for f in feats])
    np.savez(path, fps=fps, features=np.concatenate(feats, axis=1).astype(np.float32), lengths=lengths,
             captions=np.array(["\n".join(s.captions) for s in items]), families=np.array([s.family for s in items]))


def read(path):
    """-> (fps, list of (features (2, T, 262), captions list, family))."""
    with np.load(path) as data:
        bounds = np.concatenate([[0], np.cumsum(data["lengths"])])
        feats = data["features"]
        return int(data["fps"]), [(feats[:, a:b], str(c).split("\n"), str(f))
                                  for a, b, c, f in zip(bounds[:-1], bounds[1:], data["captions"], data["families"])]
