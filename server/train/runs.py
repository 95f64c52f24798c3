"""What a training run's folder holds besides checkpoints' training state: the normalisation statistics
(computed from the training clips once, then read back on every resume) and the best VQ-VAE, with its
refined decoder where that stage ran."""

from pathlib import Path

import numpy as np
import torch

from ..model.vqvae import VQConfig, VQVAE
from ..motion.normalise import Normaliser
from . import data
from .decoder import identity
from .loop import written_atomically


def normaliser_for(run, train_clips):
    path = Path(run) / "stats.npz"
    if not path.exists():
        stats = data.statistics(train_clips)
        with written_atomically(path) as tmp:
            np.savez(tmp, mean=stats.mean, std=stats.std)
    return read_stats(run)


def read_stats(run):
    with np.load(Path(run) / "stats.npz") as s:
        return Normaliser(s["mean"], s["std"])


def load_vq(run, refined=True):
    """The best VQ-VAE of a run; with `refined`, its decoder replaced by the decoder stage's best, if that
    stage ran on this VQ (a decoder refined for an earlier VQ is an error: rerun the decoder stage)."""
    state = torch.load(Path(run) / "vq_best.pt", map_location="cpu", weights_only=True)
    vq = VQVAE(VQConfig(**state["config"]))
    vq.load_state_dict(state["model"])
    decoder = Path(run) / "decoder_best.pt"
    if refined and decoder.exists():
        state = torch.load(decoder, map_location="cpu", weights_only=True)
        if state["vq"] != identity(vq):
            raise ValueError(f"{decoder} was refined for another VQ-VAE than {Path(run) / 'vq_best.pt'}: "
                             "delete decoder_*.pt and run the decoder stage again")
        vq.decoder.load_state_dict(state["model"])
    return vq.eval()
