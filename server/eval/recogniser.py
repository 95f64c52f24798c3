"""A synthetic-domain recogniser: a small temporal convolution network that names the interaction family
of a two-person motion. Trained on the synthetic corpus; used to score generations against the family a
prompt asked for.

The judge is an ensemble of such networks trained alike from different seeds, naming the family of highest
mean probability. One network is a noisy judge of generated motion: on the same served samples of the
held-out set A, networks of seeds 0-4 gave 63 to 73 % top-1 (the ensemble 70 %, a second one of seeds 5-9
72 %, the two agreeing on 95 of 100 verdicts), though they recognise 89-98 % of the corpus's own
validation clips."""

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from ..motion.features import POSITIONS, VELOCITIES


@dataclass
class RecogniserConfig:
    families: tuple
    width: int = 128
    channels: int = 4 * 66  # positions and velocities of both persons


def inputs(features, normaliser):
    """(2, T, 262) de-normalised features -> (channels, T) normalised network input."""
    f = normaliser.forward(np.asarray(features, np.float32))
    parts = [f[k][:, s] for k in range(2) for s in (POSITIONS, VELOCITIES)]
    return np.concatenate(parts, axis=-1).T.astype(np.float32)


class Recogniser(nn.Module):
    def __init__(self, cfg: RecogniserConfig):
        super().__init__()
        self.cfg = cfg
        w = cfg.width
        self.convs = nn.ModuleList([nn.Conv1d(cfg.channels, w, 5, padding=2), nn.Conv1d(w, w, 5, padding=2, stride=2),
                                    nn.Conv1d(w, w, 5, padding=2, stride=2)])
        self.head = nn.Linear(2 * w, len(cfg.families))

    def forward(self, x, lengths):
        """x (B, channels, T) zero-padded, lengths (B,) -> logits (B, families)."""
        valid = (torch.arange(x.shape[-1], device=x.device)[None] < lengths[:, None]).float()[:, None]
        h = x * valid
        for conv in self.convs:
            h = F.gelu(conv(h))
            valid = F.max_pool1d(valid, conv.stride[0], ceil_mode=True) if conv.stride[0] > 1 else valid
            valid = valid[..., : h.shape[-1]]
            h = h * valid
        mean = h.sum(-1) / valid.sum(-1).clamp(min=1)
        peak = (h - 1e4 * (1 - valid)).amax(-1)
        return self.head(torch.cat([mean, peak], dim=-1))

    @torch.no_grad()
    def probabilities(self, x, lengths):
        self.eval()
        return self(x, lengths).softmax(-1)


class Ensemble:
    """Recognisers of the same families; the family of highest mean probability is the verdict."""

    def __init__(self, members):
        self.members = list(members)
        self.families = self.members[0].cfg.families
        if any(m.cfg.families != self.families for m in self.members):
            raise ValueError("the recognisers of an ensemble must name the same families")

    def _probabilities(self, feature_list, normaliser):
        x, lengths = batch([inputs(f, normaliser) for f in feature_list])
        return torch.stack([m.probabilities(x, lengths) for m in self.members])  # (members, clips, families)

    def predict(self, feature_list, normaliser):
        """Family names for a list of (2, T, 262) feature arrays."""
        return self.verdicts(feature_list, normaliser)[0]

    def verdicts(self, feature_list, normaliser):
        """(the ensemble's names, each member's names) for a list of (2, T, 262) feature arrays."""
        p = self._probabilities(feature_list, normaliser)
        name = lambda indices: [self.families[i] for i in indices.tolist()]  # noqa: E731
        return name(p.mean(0).argmax(-1)), [name(q.argmax(-1)) for q in p]


def batch(arrays):
    T = max(a.shape[-1] for a in arrays)
    x = torch.zeros(len(arrays), arrays[0].shape[0], T)
    for i, a in enumerate(arrays):
        x[i, :, : a.shape[-1]] = torch.from_numpy(a)
    return x, torch.tensor([a.shape[-1] for a in arrays])


def train(clips, normaliser, steps=1500, batch_size=64, seed=0, noise=0.1):
    """Fit on (2, T, 262) clips with family labels; Gaussian input noise stands in for generation error."""
    families = tuple(sorted({c.family for c in clips}))
    model = Recogniser(RecogniserConfig(families))
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    data = [inputs(c.features, normaliser) for c in clips]
    labels = torch.tensor([families.index(c.family) for c in clips])
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    model.train()
    for step in range(steps):
        pick = torch.randint(len(data), (batch_size,), generator=gen)
        x, lengths = batch([data[i] for i in pick.tolist()])
        x = x + noise * torch.randn(x.shape, generator=gen)
        loss = F.cross_entropy(model(x, lengths), labels[pick])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


SEEDS = (0, 1, 2, 3, 4)


def train_ensemble(clips, normaliser, seeds=SEEDS, **options):
    """One recogniser per seed, each trained by `train` with the same options."""
    return Ensemble(train(clips, normaliser, seed=seed, **options) for seed in seeds)


def save(ensemble, path):
    torch.save({"members": [{"config": asdict(m.cfg), "model": m.state_dict()} for m in ensemble.members]}, path)


def load(path):
    members = []
    for state in torch.load(path, map_location="cpu", weights_only=True)["members"]:
        cfg = dict(state["config"])
        model = Recogniser(RecogniserConfig(tuple(cfg.pop("families")), **cfg))
        model.load_state_dict(state["model"])
        members.append(model.eval())
    return Ensemble(members)
