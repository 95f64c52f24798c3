"""Training data from three sources, all as clips of two persons' features with captions:

* the synthetic corpus (`server.synth`), written by `python -m server.train corpus`;
* an InterHuman folder in the official layout (`motions_processed/person{1,2}/<id>.npy`, `annots/<id>.txt`,
  `split/{train,val}.txt`);
* a custom folder: per clip `<id>.person1.npy` and `<id>.person2.npy`, each (T, 22, 3) joint positions in
  metres, Y up, 30 fps, SMPL-22 joint order (server/motion/skeleton.py), and `<id>.txt` with one caption
  per line; an optional `val.txt` lists the ids held out for validation.

Features are computed at the model's frame rate (a divisor of 30) and normalised by statistics of the
training clips."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..motion import skeleton as sk
from ..motion.features import encode_raw_pair
from ..motion.normalise import Normaliser
from ..synth import corpus


@dataclass
class Clip:
    features: np.ndarray  # (2, T, 262) de-normalised, person 2 in person 1's frame
    captions: list
    family: str = ""  # synthetic clips only


def synthetic(path, fps):
    stored_fps, items = corpus.read(path)
    if stored_fps != fps:
        raise ValueError(f"{path} was written at {stored_fps} fps, the model runs at {fps}")
    return [Clip(f, c, fam) for f, c, fam in items]


def synthetic_fps(folder):
    """The frame rate a synthetic corpus folder was written at."""
    with np.load(Path(folder) / "val.npz") as f:
        return int(f["fps"])


def _captions(path):
    lines = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line]


def interhuman(root, split, fps):
    """Clips of an InterHuman folder's split ("train" or "val")."""
    root = Path(root)
    ids = _captions(root / "split" / f"{split}.txt")
    ignore = root / "split" / "ignore_list.txt"
    skip = set(_captions(ignore)) if ignore.exists() else set()
    step = sk.FPS // fps
    clips = []
    for clip_id in ids:
        if clip_id in skip:
            continue
        raw = [np.load(root / "motions_processed" / f"person{k}" / f"{clip_id}.npy")[::step] for k in (1, 2)]
        raw = [np.concatenate([r[:, :66], r[:, 186:312]], axis=1) for r in raw]  # 22 positions | 21 rotations
        if len(raw[0]) < 16:
            continue
        clips.append(Clip(np.stack(encode_raw_pair(*raw)), _captions(root / "annots" / f"{clip_id}.txt")))
    return clips


def custom(folder, split, fps):
    folder = Path(folder)
    held_out = set(_captions(folder / "val.txt")) if (folder / "val.txt").exists() else set()
    clips = []
    for first in sorted(folder.glob("*.person1.npy")):
        clip_id = first.name[: -len(".person1.npy")]
        if (clip_id in held_out) != (split == "val"):
            continue
        p = [np.load(folder / f"{clip_id}.person{k}.npy") for k in (1, 2)]
        for k, positions in enumerate(p, 1):
            if positions.ndim != 3 or positions.shape[1:] != (sk.N_JOINTS, 3):
                raise ValueError(f"{clip_id}.person{k}.npy: expected (T, 22, 3) positions, got {positions.shape}")
        if len(p[0]) != len(p[1]):
            raise ValueError(f"{clip_id}: the two persons have {len(p[0])} and {len(p[1])} frames")
        feats = corpus.pair_features(*(corpus.resample(x.astype(np.float64), fps) for x in p))
        clips.append(Clip(np.stack(feats), _captions(folder / f"{clip_id}.txt")))
    return clips


def load(source, path, split, fps):
    """Clips of one split from a source: "synthetic" (path: the corpus folder), "interhuman", "custom"."""
    if source == "synthetic":
        return synthetic(Path(path) / f"{split}.npz", fps)
    if source == "interhuman":
        return interhuman(path, split, fps)
    if source == "custom":
        return custom(path, split, fps)
    raise ValueError(f"unknown data source {source!r}: expected synthetic, interhuman or custom")


def statistics(clips, floor=1e-2):
    """Per-dimension mean and std over every frame of both persons; a std floor keeps near-constant
    dimensions (contacts, a fixed height) from blowing up."""
    frames = np.concatenate([c.features.reshape(-1, c.features.shape[-1]) for c in clips])
    return Normaliser(frames.mean(0), np.maximum(frames.std(0), floor))
