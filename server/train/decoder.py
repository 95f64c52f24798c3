"""Stage 1b (not in the paper): refine the VQ-VAE's decoder with its encoder and codebook frozen.

The tokens of every clip stay exactly what the VQ stage made them, so a transformer trained on them is
unaffected and this stage may run before or after it. The decoder learns from whole-clip token maps (what
the transformer generates) of both persons of a scene at once, which allows a term the per-person VQ
losses lack: the vectors between the two persons' joints, weighted towards joints that are close in the
target. The decoder still decodes each person alone, so the term can only make each person's joints more
exact where the partner is near: measured on the validation clips, wrists that are close in a clip are
17-18 cm apart in its reconstruction after this stage, 25 cm before it (the stage's log prints both), so
contacts are closed at serving (`server/motion/contacts.py`)."""

import sys
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..motion import skeleton as sk
from ..motion.features import POSITIONS
from .loop import Runner, Schedule, load_state, resume, save_state, set_lr
from .vq import VQTrainConfig, losses


@dataclass
class DecoderTrainConfig:
    window: int = 7  # token steps per training window (28 frames)
    batch: int = 32  # scenes (both persons of each)
    steps: int = 2000
    lr: float = 1e-4
    warmup: int = 50
    val_every: int = 250
    seed: int = 3407
    between: float = 1.0  # weight of the between-persons term
    reach: float = 0.3  # m: joint pairs this close in the target weigh e^-1 of touching ones


@torch.no_grad()
def scenes(vq, clips, normaliser, window):
    """(token map (2, 5, T'), normalised features (2, 4T', 262)) of every clip at least `window` steps long."""
    out = []
    for c in clips:
        T = (c.features.shape[1] // 4) * 4
        if T // 4 < window:
            continue
        x = torch.from_numpy(normaliser.forward(c.features[:, :T]).astype(np.float32))
        out.append((vq.encode(x).reshape(2, vq.ROWS, T // 4), x))
    if not out:
        raise ValueError(f"no clip is at least {4 * window} frames long")
    return out


def draw(items, batch, window, generator):
    """Random windows of token maps and their target frames -> ids (2B, 5 * window), x (2B, 4 * window, 262)."""
    ids, xs = [], []
    for i in torch.randint(len(items), (batch,), generator=generator).tolist():
        tokens, x = items[i]
        s = torch.randint(tokens.shape[-1] - window + 1, (1,), generator=generator).item()
        ids.append(tokens[:, :, s:s + window].reshape(2, -1))
        xs.append(x[:, 4 * s:4 * (s + window)])
    return torch.cat(ids), torch.cat(xs)


def joints(x, mean, std):
    """Normalised features (2B, T, 262), persons interleaved -> joint positions in metres (B, 2, T, 22, 3)."""
    p = x[..., POSITIONS] * std[POSITIONS] + mean[POSITIONS]
    return p.reshape(-1, 2, x.shape[1], sk.N_JOINTS, 3)


def between_persons(pred, target, mean, std, reach):
    """Smooth-L1 error of the vectors from each joint of person 1 to each joint of person 2, in metres,
    weighted by exp(-target distance / reach); pred/target normalised (2B, T, 262), persons interleaved."""
    p, g = joints(pred, mean, std), joints(target, mean, std)
    dp = p[:, 0, :, :, None] - p[:, 1, :, None]
    dg = g[:, 0, :, :, None] - g[:, 1, :, None]
    weight = torch.exp(-dg.norm(dim=-1) / reach)
    error = F.smooth_l1_loss(dp, dg, beta=0.05, reduction="none").sum(-1)
    return (weight * error).sum() / weight.sum()


@torch.no_grad()
def validate(vq, items, mean, std):
    """Mean world joint error (m) of whole validation clips and mean error (m) of the vectors between the
    two persons' wrists while they are within 30 cm in the target."""
    was_training = vq.decoder.training
    vq.decoder.eval()
    joint, wrists = [], []
    hands = [sk.JOINT_INDEX["left_wrist"], sk.JOINT_INDEX["right_wrist"]]
    for tokens, x in items:
        p = joints(vq.decode(tokens.reshape(2, -1)), mean, std)[0]
        g = joints(x, mean, std)[0]
        joint.append((p - g).norm(dim=-1).mean().item())
        dp = p[0, :, hands, None] - p[1, :, None, hands]
        dg = g[0, :, hands, None] - g[1, :, None, hands]
        close = dg.norm(dim=-1) < 0.3
        if close.any():
            wrists.append((dp - dg).norm(dim=-1)[close].mean().item())
    vq.decoder.train(was_training)
    return float(np.mean(joint)), float(np.mean(wrists)) if wrists else float("nan")


def train(vq, vq_cfg: VQTrainConfig, cfg: DecoderTrainConfig, train_clips, val_clips, normaliser, run_dir,
          device=None):
    """Refine (or resume refining) `vq`'s decoder in place; writes run_dir/decoder_last.pt and
    decoder_best.pt (the decoder's weights, chosen by validation joint error). Returns `vq` with the best."""
    runner = Runner(device)
    torch.manual_seed(cfg.seed + runner.rank)
    gen = torch.Generator().manual_seed(cfg.seed + 1000 * runner.rank)
    vq = vq.to(runner.device).eval()
    for p in vq.parameters():
        p.requires_grad_(False)
    decoder = vq.decoder.train()
    for p in decoder.parameters():
        p.requires_grad_(True)
    optimiser = torch.optim.AdamW(decoder.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=0.0)
    schedule = Schedule(cfg.lr, cfg.steps, cfg.warmup)
    origin = identity(vq)
    start, best = resume(run_dir / "decoder_last.pt", decoder, optimiser, gen)
    net = runner.wrap(decoder)
    mean = torch.from_numpy(normaliser.mean).to(runner.device)
    std = torch.from_numpy(normaliser.std).to(runner.device)
    train_items = scenes(vq, train_clips, normaliser, cfg.window)
    val_items = scenes(vq, val_clips, normaliser, 1)
    bar = runner.progress(start, cfg.steps, "decoder")
    if start == 0:
        best, wrists = validate(vq, val_items, mean, std)  # the VQ stage's decoder is the one to beat
        if runner.main:
            bar.write(f"decoder step 0 (the VQ stage's): validation joint error {100 * best:.2f} cm, wrists "
                      f"between persons {100 * wrists:.2f} cm", file=sys.stderr)
    for step in range(start, cfg.steps):
        set_lr(optimiser, schedule(step))
        ids, x = draw(train_items, cfg.batch, cfg.window, gen)
        ids, x = ids.to(runner.device), x.to(runner.device)
        y = vq.postprocess(net(vq.latents(ids)))
        loss, parts = losses(y, x, torch.zeros((), device=runner.device), mean, std, vq_cfg)
        parts["between"] = between_persons(y, x, mean, std, cfg.reach)
        loss = loss + cfg.between * parts["between"]
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(decoder.parameters(), 1.0)
        optimiser.step()
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", between=f"{parts['between'].item():.4f}", refresh=False)
        last = step + 1 == cfg.steps
        if (step + 1) % cfg.val_every == 0 or last:
            error, wrists = validate(vq, val_items, mean, std)
            error = runner.mean(error)
            if runner.main:
                bar.write(f"decoder step {step + 1}: validation joint error {100 * error:.2f} cm, wrists "
                          f"between persons {100 * wrists:.2f} cm", file=sys.stderr)
                if error < best:
                    best = error
                    save_state(run_dir / "decoder_best.pt", model=decoder.state_dict(), step=step + 1,
                               error=error, vq=origin)
                save_state(run_dir / "decoder_last.pt", model=decoder.state_dict(),
                           optimiser=optimiser.state_dict(), generator=gen.get_state(), step=step + 1, best=best)
    bar.close()
    runner.close()
    refined = load_state(run_dir / "decoder_best.pt")
    if refined is not None:
        decoder.load_state_dict(refined["model"])
    return vq.eval()


def identity(vq):
    """What ties a refined decoder to its VQ: a checksum of the frozen codebook."""
    return float(vq.codebook.codebook.double().sum())
