"""Per-dimension feature normalisation, x_norm = (x - mean) / std, with statistics read from files."""

from pathlib import Path

import numpy as np

from .features import FEATURE_DIM


class Normaliser:
    def __init__(self, mean, std):
        mean = np.asarray(mean, dtype=np.float32)
        std = np.asarray(std, dtype=np.float32)
        if mean.shape != std.shape or mean.ndim != 1:
            raise ValueError(f"mean and std must be equal 1-D shapes, got {mean.shape} and {std.shape}")
        if not np.all(np.isfinite(mean)) or not np.all(np.isfinite(std)) or np.any(std <= 0):
            raise ValueError("normalisation statistics must be finite with a positive std")
        self.mean, self.std = mean, std

    @classmethod
    def from_files(cls, mean_path, std_path, dim=FEATURE_DIM):
        """Read two .npy files; `dim` guards against pairing the wrong statistics with a model."""
        mean, std = np.load(Path(mean_path)), np.load(Path(std_path))
        if mean.shape != (dim,):
            raise ValueError(f"{mean_path}: expected statistics of shape ({dim},), got {mean.shape}")
        return cls(mean, std)

    def forward(self, x):
        return (x - self.mean) / self.std

    def backward(self, x):
        return x * self.std + self.mean
