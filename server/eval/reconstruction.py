"""How much of a motion a VQ-VAE keeps: the validation clips encoded to tokens and decoded again, scored by
the recogniser and by joint errors. A transformer samples tokens, so recognition on reconstructions is the
ceiling of recognition on generations: check it before spending hours on a transformer."""

import numpy as np
import torch

from ..motion import skeleton as sk
from ..motion.features import POSITIONS
from . import physics


@torch.no_grad()
def reconstruct(vq, normaliser, features):
    """(2, T, 262) de-normalised features -> their reconstruction through the VQ's tokens, (2, T', 262)
    with T' the length cut to whole tokens (a multiple of 4)."""
    T = features.shape[1] // 4 * 4
    x = torch.from_numpy(normaliser.forward(features[:, :T]).astype(np.float32))
    return normaliser.backward(vq.decode(vq.encode(x)).numpy())


def report(vq, normaliser, clips, judge):
    """Recognition top-1 on the clips and on their reconstructions (overall and per family), mean joint
    errors of the reconstructions in cm (in world space, and relative to the pelvis per joint), and per
    family the mean closest approach of the two persons' hands in the clips and in their reconstructions."""
    rebuilt = [reconstruct(vq, normaliser, c.features) for c in clips]
    families = [c.family for c in clips]
    on_clips = judge.predict([c.features for c in clips], normaliser)
    on_rebuilt, members_on_rebuilt = judge.verdicts(rebuilt, normaliser)
    world, local, hands = [], [], {}
    for clip, r in zip(clips, rebuilt):
        a = r[..., POSITIONS].reshape(2, -1, sk.N_JOINTS, 3)
        b = clip.features[:, : a.shape[1], POSITIONS].reshape(2, -1, sk.N_JOINTS, 3)
        world.append(np.linalg.norm(a - b, axis=-1).mean((0, 1)))
        local.append(np.linalg.norm((a - a[:, :, :1]) - (b - b[:, :, :1]), axis=-1).mean((0, 1)))
        hands.setdefault(clip.family, []).append(tuple(physics.closest_approach(*p, physics.HANDS, physics.HANDS)
                                                       for p in (b, a)))
    per_family = {}
    for fam, name in zip(families, on_rebuilt):
        per_family.setdefault(fam, []).append(name == fam)
    local = 100 * np.mean(local, axis=0)
    return {
        "clips": len(clips),
        "top1_on_clips": float(np.mean([n == f for n, f in zip(on_clips, families)])),
        "top1_on_reconstructions": float(np.mean([n == f for n, f in zip(on_rebuilt, families)])),
        "top1_on_reconstructions_per_member": [float(np.mean([n == f for n, f in zip(names, families)]))
                                               for names in members_on_rebuilt],
        "per_family_top1_on_reconstructions": {k: float(np.mean(v)) for k, v in sorted(per_family.items())},
        "joint_error_cm": float(100 * np.mean(world)),
        "pelvis_relative_error_cm": float(np.mean(local)),
        "pelvis_relative_error_cm_per_joint": {n: round(float(e), 2) for n, e in zip(sk.JOINT_NAMES, local)},
        "closest_hands_cm_per_family": {k: {"clips": round(100 * float(np.mean([c for c, _ in v])), 1),
                                            "reconstructions": round(100 * float(np.mean([r for _, r in v])), 1)}
                                        for k, v in sorted(hands.items())},
    }
