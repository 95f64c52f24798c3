"""Stage 1: the VQ-VAE on single-person windows, with the paper's losses (reconstruction, commitment,
explicit positions, velocities, bone lengths, geodesic rotations, foot contact)."""

import math
import sys
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..model.vqvae import VQConfig, VQVAE
from ..motion import skeleton as sk
from ..motion.features import CONTACTS, POSITIONS, ROTATIONS, place_in_frame
from .loop import Runner, Schedule, load_state, resume, save_state, set_lr

_PARENTS = torch.tensor([p for p in sk.PARENTS[1:]])
_CHILDREN = torch.arange(1, sk.N_JOINTS)
_FEET = list(sk.CONTACT_JOINTS)


@dataclass
class VQTrainConfig:
    window: int = 28  # frames per training window (a multiple of 4)
    batch: int = 64
    steps: int = 2000
    lr: float = 2e-4
    warmup: int = 100
    val_every: int = 200
    seed: int = 3407
    commit: float = 0.02
    explicit: float = 1.0
    velocity: float = 100.0
    bones: float = 5.0
    geodesic: float = 0.01
    foot: float = 500.0
    # Not in the paper: joint positions relative to the pelvis, in metres (smooth L1, beta 5 cm). The paper's
    # position terms act on normalised world positions, whose spread is mostly where people stand, so a
    # 20 cm error at a wrist weighs little there; 0 is the official recipe.
    local: float = 0.0
    # Codes are drawn by Gumbel sampling at this temperature during training (official: 0.5). Early on the
    # codes lie close together, so sampling is nearly uniform and the decoder learns only the mean pose for
    # the first ~1,000 steps; 0 (nearest code) learns from the first step, which matters on a short budget.
    code_temperature: float = 0.5
    # Each training window turned about the vertical axis by a random angle of at most `turn` degrees (180: any)
    # and moved sideways (along X) by at most `shift` metres. Both 0 in the recipe of the shipped default model,
    # whose VQ puts everyone at X = 0 (model card, session 16).
    turn: float = 0.0
    shift: float = 0.0


def windows(clips, normaliser, window):
    """Every person of every clip as a normalised (T, 262) float32 tensor, if at least `window` long."""
    out = []
    for c in clips:
        for person in c.features:
            if len(person) >= window:
                out.append(torch.from_numpy(normaliser.forward(person).astype(np.float32)))
    if not out:
        raise ValueError(f"no clip is at least {window} frames long")
    return out


def draw(seqs, batch, window, generator):
    """A batch of random windows (B, window, 262)."""
    picks = torch.randint(len(seqs), (batch,), generator=generator)
    out = []
    for i in picks.tolist():
        s = seqs[i]
        start = torch.randint(len(s) - window + 1, (1,), generator=generator).item()
        out.append(s[start:start + window])
    return torch.stack(out)


def moved(x, mean, std, generator, turn, shift):
    """Normalised windows (B, T, 262), each turned about the vertical axis through the origin by a random angle
    of at most `turn` degrees and then shifted along X by at most `shift` metres. The synthetic corpus is
    axis-aligned (in 19 of its 24 families both people stay on the Z axis), and a VQ trained on it as it is
    learns to ignore X. Positions and velocities turn, positions shift; local rotations and foot contacts do
    not change."""
    uniform = lambda: 2 * torch.rand(len(x), generator=generator) - 1  # noqa: E731
    half_angles = (math.radians(turn) / 2 * uniform()).tolist()  # place_in_frame's convention
    shifts = (shift * uniform()).tolist()
    metres = (x * std + mean).cpu().numpy()
    out = np.stack([place_in_frame(window, yaw, (dx, 0.0)) for window, yaw, dx in zip(metres, half_angles, shifts)])
    return (torch.from_numpy(out).to(x.device) - mean) / std


def _geodesic(a6, b6):
    """Mean angle between rotations given as 6D rows (first two matrix columns)."""
    def matrix(r):
        x = F.normalize(r[..., 0:3], dim=-1)
        y = F.normalize(r[..., 3:6] - (x * r[..., 3:6]).sum(-1, keepdim=True) * x, dim=-1)
        return torch.stack([x, y, torch.cross(x, y, dim=-1)], dim=-1)
    m = matrix(a6) @ matrix(b6).transpose(-1, -2)
    cos = ((m.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1 + 1e-6, 1 - 1e-6)
    return torch.acos(cos).mean()


def losses(pred, target, commit, mean, std, cfg: VQTrainConfig):
    """Total loss and its named parts; pred/target normalised (B, T, 262); mean/std tensors (262,)."""
    B, T, _ = pred.shape
    smooth = F.smooth_l1_loss
    parts = {"rec": smooth(pred[..., :258], target[..., :258]), "commit": commit}
    parts["explicit"] = smooth(pred[..., POSITIONS], target[..., POSITIONS])
    parts["velocity"] = smooth(pred[:, 1:, POSITIONS] - pred[:, :-1, POSITIONS],
                               target[:, 1:, POSITIONS] - target[:, :-1, POSITIONS])
    # bone lengths and foot contact in metres
    p = (pred[..., POSITIONS] * std[POSITIONS] + mean[POSITIONS]).reshape(B, T, sk.N_JOINTS, 3)
    g = (target[..., POSITIONS] * std[POSITIONS] + mean[POSITIONS]).reshape(B, T, sk.N_JOINTS, 3)
    bone = lambda x: (x[:, :, _CHILDREN] - x[:, :, _PARENTS]).norm(dim=-1)  # noqa: E731
    parts["bones"] = smooth(bone(p), bone(g))
    parts["local"] = smooth(p - p[:, :, :1], g - g[:, :, :1], beta=0.05)
    pr = (pred[..., ROTATIONS] * std[ROTATIONS] + mean[ROTATIONS]).reshape(B, T, -1, 6)
    gr = (target[..., ROTATIONS] * std[ROTATIONS] + mean[ROTATIONS]).reshape(B, T, -1, 6)
    parts["geodesic"] = _geodesic(pr, gr)
    contact = (target[:, :-1, CONTACTS] * std[CONTACTS] + mean[CONTACTS]) > 0.5
    foot_velocity = p[:, 1:, _FEET] - p[:, :-1, _FEET]
    parts["foot"] = smooth(foot_velocity * contact[..., None], torch.zeros_like(foot_velocity))
    weights = {"rec": 1.0, "commit": cfg.commit, "explicit": cfg.explicit, "velocity": cfg.velocity,
               "bones": cfg.bones, "geodesic": cfg.geodesic, "foot": cfg.foot, "local": cfg.local}
    return sum(weights[k] * v for k, v in parts.items()), parts


@torch.no_grad()
def validate(model, seqs, normaliser, cfg, device):
    """Mean reconstruction error in metres of joint positions over fixed windows of the validation clips."""
    model.eval()
    errors = []
    std = torch.from_numpy(normaliser.std[POSITIONS]).to(device)
    for s in seqs:
        T = (len(s) // 4) * 4
        x = s[None, :T].to(device)
        ids = model.encode(x)
        y = model.decode(ids)
        errors.append(((y - x)[..., POSITIONS] * std).reshape(1, T, sk.N_JOINTS, 3).norm(dim=-1).mean().item())
    model.train()
    return float(np.mean(errors))


def train(model_cfg: VQConfig, cfg: VQTrainConfig, train_clips, val_clips, normaliser, run_dir, device=None):
    """Train (or resume) the VQ-VAE; writes run_dir/vq_last.pt and vq_best.pt. Returns the best model."""
    runner = Runner(device)
    torch.manual_seed(cfg.seed + runner.rank)
    gen = torch.Generator().manual_seed(cfg.seed + 1000 * runner.rank)
    model = VQVAE(model_cfg).to(runner.device).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0)
    schedule = Schedule(cfg.lr, cfg.steps, cfg.warmup)
    start, best = resume(run_dir / "vq_last.pt", model, optimiser, gen)
    net = runner.wrap(model)
    mean = torch.from_numpy(normaliser.mean).to(runner.device)
    std = torch.from_numpy(normaliser.std).to(runner.device)
    train_seqs = windows(train_clips, normaliser, cfg.window)
    val_seqs = windows(val_clips, normaliser, cfg.window)
    bar = runner.progress(start, cfg.steps, "vq")
    for step in range(start, cfg.steps):
        set_lr(optimiser, schedule(step))
        x = draw(train_seqs, cfg.batch, cfg.window, gen).to(runner.device)
        if cfg.turn or cfg.shift:
            x = moved(x, mean, std, gen, cfg.turn, cfg.shift)
        y, commit, perplexity = net(x, cfg.code_temperature)
        loss, parts = losses(y, x, commit, mean, std, cfg)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", rec=f"{parts['rec'].item():.4f}", ppl=f"{perplexity.item():.0f}", refresh=False)
        last = step + 1 == cfg.steps
        if (step + 1) % cfg.val_every == 0 or last:
            error = runner.mean(validate(model, val_seqs, normaliser, cfg, runner.device))
            if runner.main:
                bar.write(f"vq step {step + 1}: validation joint error {100 * error:.2f} cm", file=sys.stderr)
                if error < best:
                    best = error
                    save_state(run_dir / "vq_best.pt", model=model.state_dict(), step=step + 1, error=error,
                               config=asdict(model_cfg))
                save_state(run_dir / "vq_last.pt", model=model.state_dict(), optimiser=optimiser.state_dict(),
                           generator=gen.get_state(), step=step + 1, best=best)
    bar.close()
    runner.close()
    best_state = load_state(run_dir / "vq_best.pt")
    model.load_state_dict(best_state["model"])
    return model.eval()
