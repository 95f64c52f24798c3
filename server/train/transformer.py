"""Stage 2: the masked transformer on token maps of both persons from the frozen VQ-VAE, conditioned on
a frozen text encoder's per-token features through the trainable adapter."""

import sys
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from ..model.transformer import MaskTransformer, TransformerConfig
from .loop import Runner, Schedule, load_state, resume, save_state, set_lr


@dataclass
class TransformerTrainConfig:
    batch: int = 32
    steps: int = 2000
    lr: float = 2e-4
    warmup: int = 100
    weight_decay: float = 1e-5
    max_steps: int = 37  # token steps per clip (4 frames each); longer clips are cropped at random
    val_every: int = 250
    seed: int = 3407
    milestones: tuple = (0.5, 0.7, 0.85)  # fractions of the steps where the learning rate falls by 3
    # False: the stage's result is its latest checkpoint. For the refinement: its point is prompts unlike the
    # validation captions, which the validation loss cannot see (it rises a little as the noise takes effect).
    select_best: bool = True


@dataclass
class TokenClip:
    ids: torch.Tensor  # (2, rows * T') int64
    steps: int
    captions: list


@torch.no_grad()
def tokenise(vq, clips, normaliser, device):
    """Both persons of every clip -> VQ token maps (row-major, as the transformer reads them)."""
    vq.eval()
    out = []
    for c in clips:
        T = (c.features.shape[1] // 4) * 4
        if T < 4:
            continue
        x = torch.from_numpy(normaliser.forward(c.features[:, :T]).astype(np.float32)).to(device)
        out.append(TokenClip(vq.encode(x).cpu(), T // 4, c.captions))
    return out


class TextConditionedLoss(nn.Module):
    """The adapter and the transformer's training pass as one module, so DDP sees every parameter."""

    def __init__(self, model: MaskTransformer):
        super().__init__()
        self.model = model

    def forward(self, tokens, pool_index, token_mask, ids, m_lens):
        return self.model(ids, self.model.encode_text(tokens, pool_index, token_mask), m_lens)


def batches(clips, batch, generator, rank=0, world=1):
    """Length-bucketed batches for one epoch: clips sorted by length (with random tie order) and cut into
    batches, whose order is then shuffled, so padding stays small. Each rank takes every world-th batch."""
    noise = torch.rand(len(clips), generator=generator)
    order = sorted(range(len(clips)), key=lambda i: (clips[i].steps, noise[i].item()))
    chunks = [order[i:i + batch] for i in range(0, len(order), batch)]
    perm = torch.randperm(len(chunks), generator=generator).tolist()
    return [chunks[p] for p in perm][rank::world]


def collate(clips, index, rows, max_steps, pad_id, generator):
    """Token maps of a batch padded to its longest clip -> (ids (B, 2 * rows * S), m_lens (B,), captions)."""
    S = min(max(clips[i].steps for i in index), max_steps)
    ids, lens, captions = [], [], []
    for i in index:
        c = clips[i]
        grid = c.ids.reshape(2, rows, c.steps)
        start = torch.randint(c.steps - S + 1, (1,), generator=generator).item() if c.steps > S else 0
        grid = grid[:, :, start:start + S]
        n = grid.shape[-1]
        grid = torch.nn.functional.pad(grid, (0, S - n), value=pad_id)
        ids.append(grid.reshape(-1))
        lens.append(n)
        captions.append(c.captions[torch.randint(len(c.captions), (1,), generator=generator).item()])
    return torch.stack(ids), torch.tensor(lens), captions


def _step(net, text_encoder, ids, m_lens, captions, device):
    t = text_encoder(captions)
    return net(t.tokens.to(device), t.pool_index.to(device), t.mask.to(device), ids.to(device), m_lens.to(device))


@torch.no_grad()
def validate(net, text_encoder, clips, cfg, model_cfg, device):
    """Masked-token loss and accuracy on the validation clips under a fixed random state."""
    net.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        gen = torch.Generator().manual_seed(0)
        losses, accs = [], []
        for index in batches(clips, cfg.batch, gen):
            ids, m_lens, captions = collate(clips, index, model_cfg.rows, cfg.max_steps, model_cfg.pad_id, gen)
            loss, acc = _step(net, text_encoder, ids, m_lens, captions, device)
            losses.append(loss.item())
            accs.append(float(acc))
    net.train()
    return float(np.mean(losses)), float(np.mean(accs))


def train(model_cfg: TransformerConfig, cfg: TransformerTrainConfig, train_clips, val_clips, text_encoder, run_dir,
          device=None, stage="transformer", start_from=None):
    """Train (or resume) the transformer on token clips; writes run_dir/{stage}_{last,best}.pt. A stage that
    continues another (the refinement) starts from the weights of `start_from`, a best checkpoint, with a
    fresh optimiser, and keeps its own best."""
    runner = Runner(device)
    torch.manual_seed(cfg.seed + runner.rank)
    gen = torch.Generator().manual_seed(cfg.seed)  # the same batches on every rank; each takes its share
    model = MaskTransformer(model_cfg).to(runner.device).train()
    origin = None
    if start_from is not None:
        source = load_state(start_from)
        model.load_state_dict(source["model"])
        origin = {"step": int(source["step"]), "loss": float(source["loss"])}
    optimiser = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=cfg.weight_decay)
    schedule = Schedule(cfg.lr, cfg.steps, cfg.warmup, milestones=cfg.milestones, gamma=1 / 3)
    start, best = resume(run_dir / f"{stage}_last.pt", model, optimiser, gen)
    net = runner.wrap(TextConditionedLoss(model))
    bar = runner.progress(start, cfg.steps, stage)
    step, queue = start, []
    while step < cfg.steps:
        if not queue:
            queue = batches(train_clips, cfg.batch, gen, runner.rank, runner.world)
        index = queue.pop()
        set_lr(optimiser, schedule(step))
        ids, m_lens, captions = collate(train_clips, index, model_cfg.rows, cfg.max_steps, model_cfg.pad_id, gen)
        loss, acc = _step(net, text_encoder, ids, m_lens, captions, runner.device)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimiser.step()
        step += 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{float(acc):.3f}", refresh=False)
        if step % cfg.val_every == 0 or step == cfg.steps:
            val_loss, val_acc = validate(net, text_encoder, val_clips, cfg, model_cfg, runner.device)
            val_loss = runner.mean(val_loss)
            if runner.main:
                bar.write(f"{stage} step {step}: validation loss {val_loss:.4f}, accuracy {val_acc:.3f}", file=sys.stderr)
                if val_loss < best or not cfg.select_best:
                    best = min(best, val_loss)
                    save_state(run_dir / f"{stage}_best.pt", model=model.state_dict(), step=step,
                               loss=val_loss, accuracy=val_acc, config=asdict(model_cfg), origin=origin)
                save_state(run_dir / f"{stage}_last.pt", model=model.state_dict(),
                           optimiser=optimiser.state_dict(), generator=gen.get_state(), step=step, best=best)
    bar.close()
    runner.close()
    model.load_state_dict(load_state(run_dir / f"{stage}_best.pt")["model"])
    return model.eval()
