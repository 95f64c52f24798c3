"""What a training run's folder holds besides checkpoints' training state: the normalisation statistics
(computed from the training clips once, then read back on every resume) and the best VQ-VAE."""

from pathlib import Path

import numpy as np
import torch

from ..model.vqvae import VQConfig, VQVAE
from ..motion.normalise import Normaliser
from . import data


def normaliser_for(run, train_clips):
    path = Path(run) / "stats.npz"
    if not path.exists():
        stats = data.statistics(train_clips)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, mean=stats.mean, std=stats.std)
    return read_stats(run)


def read_stats(run):
    with np.load(Path(run) / "stats.npz") as s:
        return Normaliser(s["mean"], s["std"])


def load_vq(run):
    state = torch.load(Path(run) / "vq_best.pt", map_location="cpu", weights_only=True)
    vq = VQVAE(VQConfig(**state["config"]))
    vq.load_state_dict(state["model"])
    return vq.eval()
