"""Iterative masked decoding (MaskGIT-style, as InterMask samples), for generation, reaction and inpainting.

All three are one loop over a cosine schedule: positions that are `fixed` (a given person's tokens for a
reaction, tokens outside the window for inpainting) keep their ids and are never masked; the others
start as [MASK] and are filled in `steps` rounds, committing the most confident predictions first."""

import math
from dataclasses import dataclass

import torch

from .transformer import cosine_schedule, padding_mask

FRAMES_PER_TOKEN = 4


@dataclass
class SamplingOptions:
    steps: int = 20
    guidance: float = 2.0  # classifier-free guidance scale (1 = conditional only)
    topk_ratio: float = 0.9  # keep the ceil((1 - ratio) * codebook) most likely codes per position
    temperature: float = 1.0  # divides the filtered logits; 1.0 is the official behaviour
    gumbel: bool = False  # official `gsample`: Gumbel-max instead of categorical sampling
    batched_guidance: bool = True  # conditional and unconditional passes as one batch
    caption_neighbours: int = 0  # 1: a prompt answered as the training caption it is read as, k > 1: a blend
    # of the k captions nearest that one (caption_bank.py, pipeline.py: read); 0: as worded

    def __post_init__(self):
        if self.steps < 1:
            raise ValueError(f"steps must be at least 1, got {self.steps}")
        if not 0 <= self.topk_ratio < 1:
            raise ValueError(f"topk_ratio must be in [0, 1), got {self.topk_ratio}")
        if not self.temperature > 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.caption_neighbours < 0:
            raise ValueError(f"caption_neighbours must be 0 (off) or more, got {self.caption_neighbours}")


def top_k(logits, ratio):
    """Keep the ceil((1 - ratio) * K) largest logits of the last axis, the rest -inf."""
    k = math.ceil((1 - ratio) * logits.shape[-1])
    values, index = logits.topk(k, dim=-1)
    return torch.full_like(logits, float("-inf")).scatter_(-1, index, values)


def sample_codes(filtered, temperature, gumbel, generators, valid):
    """(B, N, K) filtered logits -> sampled ids (B, N).

    Each row draws from its own generator, and only for its valid positions, in layout order; so a
    request samples the same codes alone or batched with requests of other lengths. Padding gets 0."""
    out = torch.zeros(filtered.shape[:2], dtype=torch.long, device=filtered.device)
    for b in range(filtered.shape[0]):
        g = generators[b] if generators is not None else None
        logits = filtered[b, valid[b]] / temperature  # (n, K)
        if gumbel:
            u = torch.rand(logits.shape, generator=g, device=logits.device).clamp_(1e-20, 1.0)
            out[b, valid[b]] = (logits - torch.log(-torch.log(u))).argmax(-1)
        else:  # inverse-CDF categorical draw
            cdf = logits.softmax(-1).cumsum(-1)
            u = torch.rand(logits.shape[0], 1, generator=g, device=logits.device) * cdf[:, -1:]
            out[b, valid[b]] = (cdf < u).sum(-1).clamp(max=logits.shape[-1] - 1)
    return out


@torch.no_grad()
def unmask(model, cond_vector, m_lens, start_ids, fixed, options, generators=None, on_step=None):
    """The shared decoding loop.

    cond_vector (B, text_dim); m_lens (B,) valid token steps; start_ids (B, 2L) ids for fixed positions
    (others ignored); fixed (B, 2L) bool; generators: one torch.Generator per row, or None.
    on_step(step, steps) is called after every step and may raise to cancel.
    Returns ids (B, 2L) with -1 at padding."""
    cfg = model.cfg
    steps_max = start_ids.shape[1] // (2 * cfg.rows)
    pad = padding_mask(m_lens, steps_max, cfg.rows).repeat(1, 2)
    free = ~pad & ~fixed
    ids = torch.where(fixed, start_ids, torch.full_like(start_ids, cfg.mask_id)).masked_fill(pad, cfg.pad_id)
    scores = torch.where(free, 0.0, 1e5)
    n_free = free.sum(-1)

    for k, t in enumerate(torch.linspace(0, 1, options.steps)):
        # re-mask the least confident free tokens; the cosine schedule says how many stay masked
        n_masked = torch.round(cosine_schedule(t) * n_free).clamp(min=1)
        rank = scores.argsort(-1).argsort(-1)
        masked = (rank < n_masked[:, None]) & free
        ids = torch.where(masked, cfg.mask_id, ids)

        # predict every position, guided by the text
        logits = model.guided_logits(ids, cond_vector, pad, options.guidance,
                                     options.batched_guidance).permute(0, 2, 1)  # (B, 2L, K)

        # sample from the top-k filtered distribution and fill only the masked slots
        sampled = sample_codes(top_k(logits, options.topk_ratio), options.temperature, options.gumbel,
                               generators, ~pad)
        ids = torch.where(masked, sampled, ids)

        # confidence of each new token under the unfiltered distribution; everything else is kept
        confidence = logits.softmax(-1).gather(-1, sampled[..., None])[..., 0]
        scores = torch.where(masked, confidence, 1e5)
        if on_step is not None:
            on_step(k + 1, options.steps)
    return ids.masked_fill(pad, -1)


def generate(model, cond_vector, m_lens, options=SamplingOptions(), generators=None, on_step=None):
    """Both persons from text alone. m_lens (B,) token steps (frames // 4)."""
    steps = int(m_lens.max())
    B = cond_vector.shape[0]
    empty = torch.zeros(B, 2 * model.cfg.rows * steps, dtype=torch.long, device=cond_vector.device)
    return unmask(model, cond_vector, m_lens, empty, empty.bool(), options, generators, on_step)


def react(model, cond_vector, m_lens, given_ids, given_person=0, options=SamplingOptions(steps=10),
          generators=None, on_step=None):
    """One person's tokens given (B, L) and kept; the other person is generated. The official reaction
    loop uses half the generation steps (10 for the default 20)."""
    B, L = given_ids.shape
    ids = torch.zeros(B, 2 * L, dtype=torch.long, device=given_ids.device)
    fixed = torch.zeros_like(ids, dtype=torch.bool)
    part = slice(0, L) if given_person == 0 else slice(L, 2 * L)
    ids[:, part] = given_ids.clamp(min=0)
    fixed[:, part] = True
    return unmask(model, cond_vector, m_lens, ids, fixed, options, generators, on_step)


def window_mask(m_lens, steps_max, rows, start_frame, end_frame, persons=(0, 1)):
    """(B, 2 * rows * steps_max) True at the tokens covering frames [start_frame, end_frame) of the
    given persons (0 and/or 1)."""
    first = start_frame // FRAMES_PER_TOKEN
    last = -(-end_frame // FRAMES_PER_TOKEN)  # ceil
    step = torch.arange(steps_max, device=m_lens.device)
    in_window = ((step >= first) & (step < last))[None] & (step[None] < m_lens[:, None])  # (B, steps)
    person = in_window.repeat(1, rows)
    off = torch.zeros_like(person)
    return torch.cat([person if 0 in persons else off, person if 1 in persons else off], dim=1)


def inpaint(model, cond_vector, m_lens, ids, regenerate, options=SamplingOptions(), generators=None,
            on_step=None):
    """Regenerate the positions where `regenerate` (B, 2L) is True; every other token is kept."""
    return unmask(model, cond_vector, m_lens, ids.clamp(min=0), ~regenerate, options, generators, on_step)
