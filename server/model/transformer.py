"""The Inter-M masked transformer (Javed et al., "InterMask", ICLR 2025, Sec. 3.2).

Both persons' 5 x T' token maps are flattened (row-major), joined as [person 1 | SEP | person 2], and
modelled jointly: every block runs self-attention over both persons, then per person spatial and
temporal attention, cross-attention to the other person, and a feed-forward layer, all modulated by the
text condition through AdaLN. Names follow the official checkpoints (`Transformer.blocks.0.self_attn...`).

Two official quirks are kept for checkpoint fidelity: the spatio-temporal layer counts its residual input
twice, and both persons share one 2D positional code (the separator alone tells them apart). The second
makes the predictions for both persons identical wherever both are fully masked, as at the first step of
generation; `person_embedding` (ours, off for official checkpoints) adds a learned code per person.
Layout is sequence-first, (N, B, d), as in the official code."""

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class TransformerConfig:
    num_tokens: int = 1024  # VQ codebook size; ids num_tokens.. are MASK, PAD, SEP
    code_dim: int = 512  # token embedding width (= VQ code_dim)
    latent_dim: int = 384
    ff_size: int = 1024
    num_layers: int = 6
    num_heads: int = 6
    dropout: float = 0.2
    attention_dropout: float = None  # None: the same as `dropout` (official); 0 keeps CPU training on the fused kernel
    text_dim: int = 768  # width of the frozen text encoder's per-token features (CLIP ViT-L/14: 768)
    adapter_layers: int = 2  # trainable text adapter: post-norm transformer encoder layers
    adapter_heads: int = 8
    adapter_ff: int = 2048
    adapter_dropout: float = 0.1
    adapter_padding_mask: bool = False  # official: no mask (CLIP pads to 77 anyway); ours: mask the padding
    cond_drop_prob: float = 0.1  # classifier-free guidance: drop the text for this fraction of samples
    # Training only, not in the paper: Gaussian noise on the condition vector, per dimension, relative to its
    # RMS. Wordings unlike any caption land near, not on, the captions' condition vectors; noise teaches the
    # model to answer a neighbourhood the way it answers the caption (conditioning augmentation). 0: official.
    cond_noise: float = 0.0
    interaction_mask_prob: float = 0.2  # training: mask one whole person for this fraction of batches
    step_unroll: float = 1.0  # weight of the step-unroll second pass
    rows: int = 5  # spatial rows per time step of the VQ token map
    person_embedding: bool = False  # official: none; a learned code per person, so that they differ from the start

    @property
    def mask_id(self):
        return self.num_tokens

    @property
    def pad_id(self):
        return self.num_tokens + 1

    @property
    def sep_id(self):
        return self.num_tokens + 2

    def __post_init__(self):
        if self.latent_dim % self.num_heads:
            raise ValueError(f"latent_dim {self.latent_dim} is not divisible by num_heads {self.num_heads}")
        if self.text_dim % self.adapter_heads:
            raise ValueError(f"text_dim {self.text_dim} is not divisible by adapter_heads {self.adapter_heads}")


def cosine_schedule(t):
    """Fraction of tokens still masked at time t in [0, 1]; shared by training and sampling."""
    return torch.cos(t * math.pi * 0.5)


def layer_norm(x):
    return F.layer_norm(x, x.shape[-1:], eps=1e-6)  # no affine: AdaLN supplies scale and shift


def modulate(x, shift, scale):
    return x * (1 + scale) + shift


def attend(mha, q_in, kv_in, key_pad=None):
    """nn.MultiheadAttention's maths on its own parameters, sequence-first, without its wrapper's
    copies: q_in (Lq, B, d), kv_in (Lk, B, d), key_pad (B, Lk) True = ignore. Dropout as configured."""
    Lq, B, d = q_in.shape
    h = mha.num_heads
    w, b = mha.in_proj_weight, mha.in_proj_bias
    if q_in is kv_in:
        q, k, v = F.linear(q_in, w, b).chunk(3, dim=-1)
    else:
        q = F.linear(q_in, w[:d], b[:d])
        k, v = F.linear(kv_in, w[d:], b[d:]).chunk(2, dim=-1)

    def heads(x):  # (L, B, d) -> (B, h, L, d/h)
        return x.reshape(x.shape[0], B, h, d // h).permute(1, 2, 0, 3)

    mask = None if key_pad is None else ~key_pad[:, None, None, :]
    out = F.scaled_dot_product_attention(heads(q), heads(k), heads(v), attn_mask=mask,
                                         dropout_p=mha.dropout if mha.training else 0.0)
    return mha.out_proj(out.permute(2, 0, 1, 3).reshape(Lq, B, d))


def padding_mask(m_lens, steps, rows=5):
    """True at padded positions of one person's row-major (rows x steps) map -> (B, rows * steps)."""
    pad = torch.arange(steps, device=m_lens.device)[None] >= m_lens[:, None]
    return pad.repeat(1, rows)


# ----------------------------------------------------------------------------------------------- blocks

class AdaLN(nn.Module):
    """Condition c (B, d) -> k modulation vectors (B, d) each."""

    def __init__(self, d, k):
        super().__init__()
        self.k = k
        self.model = nn.Sequential(nn.SiLU(), nn.Linear(d, k * d))

    def forward(self, c):
        return self.model(c).chunk(self.k, dim=-1)


class FeedForward(nn.Module):
    def __init__(self, d, ff, dropout):
        super().__init__()
        self.model = nn.Sequential(nn.Linear(d, ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff, d))

    def forward(self, x):
        return self.model(x)


class SelfAttention(nn.Module):
    def __init__(self, d, heads, attention_dropout):
        super().__init__()
        self.attention = nn.MultiheadAttention(d, heads, dropout=attention_dropout)

    def forward(self, x, pad):
        return attend(self.attention, x, x, pad)


class SpatioTemporalAttention(nn.Module):
    """One person's (rows * T', B, d) tokens: attention across the rows at each step, and along time for
    each row; both read the same input, and the sum keeps the input twice (official)."""

    def __init__(self, d, heads, dropout, attention_dropout, rows):
        super().__init__()
        self.rows = rows
        self.spatial_attention = nn.MultiheadAttention(d, heads, dropout=attention_dropout)
        self.temporal_attention = nn.MultiheadAttention(d, heads, dropout=attention_dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, u, pad, shift_s, scale_s, gate_s, shift_t, scale_t, gate_t):
        N, B, d = u.shape
        R, T = self.rows, N // self.rows
        v = modulate(layer_norm(u), shift_s, scale_s).reshape(R, T * B, d)  # rows are the sequence
        spatial = attend(self.spatial_attention, v, v).reshape(N, B, d)
        v = modulate(layer_norm(u), shift_t, scale_t).reshape(R, T, B, d).transpose(0, 1).reshape(T, R * B, d)
        temporal_pad = pad.reshape(B, R, T).transpose(0, 1).reshape(R * B, T)
        temporal = attend(self.temporal_attention, v, v, temporal_pad)
        temporal = temporal.reshape(T, R, B, d).transpose(0, 1).reshape(N, B, d)
        return (u + gate_s * self.drop(spatial)) + (u + gate_t * self.drop(temporal))


class InteractionAttention(nn.Module):
    """Cross-attention from one person (after spatio-temporal attention) to the other (before it)."""

    def __init__(self, d, heads, dropout, attention_dropout):
        super().__init__()
        self.interaction_attention = nn.MultiheadAttention(d, heads, dropout=attention_dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, other, pad, shift_q, scale_q, shift_kv, scale_kv, gate):
        q = modulate(layer_norm(x), shift_q, scale_q)
        kv = modulate(layer_norm(other), shift_kv, scale_kv)
        out = attend(self.interaction_attention, q, kv, pad)
        return x + gate * self.drop(out)


class InterMBlock(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        d, h, p = cfg.latent_dim, cfg.num_heads, cfg.dropout
        pa = p if cfg.attention_dropout is None else cfg.attention_dropout
        self.adaLN_mod_combined = AdaLN(d, 6)
        self.self_attn = SelfAttention(d, h, pa)
        self.ffn_combined = FeedForward(d, cfg.ff_size, p)
        self.adaLN_mod_split = AdaLN(d, 14)
        self.spa_temp_attn = SpatioTemporalAttention(d, h, p, pa, cfg.rows)
        self.local_inter_attn = InteractionAttention(d, h, p, pa)
        self.ffn_split = FeedForward(d, cfg.ff_size, p)
        self.drop = nn.Dropout(p)

    def forward(self, x, c, pad):
        """x (2L + 1, B, d) = [person 1 | SEP | person 2]; c (B, d); pad (B, 2L + 1)."""
        # both persons jointly
        shift_a, scale_a, gate_a, shift_f, scale_f, gate_f = self.adaLN_mod_combined(c)
        x = x + gate_a * self.drop(self.self_attn(modulate(layer_norm(x), shift_a, scale_a), pad))
        x = x + gate_f * self.drop(self.ffn_combined(modulate(layer_norm(x), shift_f, scale_f)))

        # each person, with shared weights, then towards the other person
        (shift_s, scale_s, gate_s, shift_t, scale_t, gate_t, shift_q, scale_q, shift_kv, scale_kv, gate_x,
         shift_f, scale_f, gate_f) = self.adaLN_mod_split(c)
        L = x.shape[0] // 2
        a, sep, b = x[:L], x[L:L + 1], x[L + 1:]
        pad_person = pad[:, :L]  # both persons have the same lengths
        st = (shift_s, scale_s, gate_s, shift_t, scale_t, gate_t)
        a_st = self.spa_temp_attn(a, pad_person, *st)
        b_st = self.spa_temp_attn(b, pad_person, *st)
        cross = (shift_q, scale_q, shift_kv, scale_kv, gate_x)
        a_x = self.local_inter_attn(a_st, b, pad_person, *cross)
        b_x = self.local_inter_attn(b_st, a, pad_person, *cross)
        a_x = a_x + gate_f * self.drop(self.ffn_split(modulate(layer_norm(a_x), shift_f, scale_f)))
        b_x = b_x + gate_f * self.drop(self.ffn_split(modulate(layer_norm(b_x), shift_f, scale_f)))
        return torch.cat([a_x, sep, b_x], dim=0)


class InterMTransformer(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.blocks = nn.ModuleList([InterMBlock(cfg) for _ in range(cfg.num_layers)])

    def forward(self, x, c, pad):
        for block in self.blocks:
            x = block(x, c, pad)
        L = x.shape[0] // 2
        return torch.cat([x[:L], x[L + 1:]], dim=0)  # the separator's output is not predicted


class PositionalEncoding2D(nn.Module):
    """Fixed sinusoidal code over (row, step): channels [0, c) encode the row, [c, 2c) the step, each as
    interleaved sin/cos; `inv_freq` is a saved buffer, as in the official checkpoints."""

    def __init__(self, d):
        super().__init__()
        self.d = d
        c = int(math.ceil(d / 4) * 2)
        self.register_buffer("inv_freq", 1.0 / (10000 ** (torch.arange(0, c, 2).float() / c)))

    def _axis(self, n):
        angles = torch.arange(n, device=self.inv_freq.device, dtype=self.inv_freq.dtype)[:, None] * self.inv_freq
        return torch.stack((angles.sin(), angles.cos()), dim=-1).flatten(-2)  # (n, c)

    def forward(self, rows, steps):
        """-> (rows, steps, d)"""
        ex, ey = self._axis(rows), self._axis(steps)
        c = ex.shape[-1]
        table = torch.cat([ex[:, None].expand(rows, steps, c), ey[None].expand(rows, steps, c)], dim=-1)
        return table[..., : self.d]


class SpatioTemporalPositions(nn.Module):
    def __init__(self, d, dropout, rows, person_embedding=False):
        super().__init__()
        self.rows = rows
        self.positional_encoding = PositionalEncoding2D(d)
        self.dropout = nn.Dropout(dropout)
        # zero at the start, so a model trained without it continues unchanged when it is added
        self.person = nn.Parameter(torch.zeros(2, d)) if person_embedding else None

    def forward(self, x):
        """x (2L + 1, B, d): the same 2D code is added to each person (and its person code, if any); the
        separator gets none."""
        L = x.shape[0] // 2
        R, T = self.rows, L // self.rows
        code = self.positional_encoding(R, T).reshape(L, 1, -1)
        first, second = (code, code) if self.person is None else (code + self.person[0], code + self.person[1])
        return self.dropout(torch.cat([x[:L] + first, x[L:L + 1], x[L + 1:] + second], dim=0))


class InputProcess(nn.Module):
    def __init__(self, code_dim, d):
        super().__init__()
        self.poseEmbedding = nn.Linear(code_dim, d)

    def forward(self, x):
        return self.poseEmbedding(x.permute(1, 0, 2))  # (B, N, code) -> (N, B, d)


class OutputProcess(nn.Module):
    def __init__(self, d, num_tokens):
        super().__init__()
        self.dense = nn.Linear(d, d)
        self.adaLN_mod = AdaLN(d, 2)
        self.poseFinal = nn.Linear(d, num_tokens)

    def forward(self, x, c):
        shift, scale = self.adaLN_mod(c)
        h = modulate(layer_norm(F.gelu(self.dense(x))), shift, scale)
        return self.poseFinal(h).permute(1, 2, 0)  # (N, B, K) -> (B, K, N)


# ------------------------------------------------------------------------------------------------ model

class MaskTransformer(nn.Module):
    """The text-conditioned two-person token model. The frozen text encoder lives outside this module
    (it is never checkpointed); its per-token features enter through `encode_text`."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.cfg = cfg
        d = cfg.latent_dim
        self.token_emb = nn.Embedding(cfg.num_tokens + 3, cfg.code_dim)
        self.input_process = InputProcess(cfg.code_dim, d)
        self.position_enc = SpatioTemporalPositions(d, cfg.dropout, cfg.rows, cfg.person_embedding)
        self.cond_emb = nn.Linear(cfg.text_dim, d)
        self.Transformer = InterMTransformer(cfg)
        self.output_process = OutputProcess(d, cfg.num_tokens)
        self.apply(self._init_weights)
        for module in self.modules():  # every block starts as the identity
            if isinstance(module, AdaLN):
                nn.init.zeros_(module.model[1].weight)
                nn.init.zeros_(module.model[1].bias)
        # created after the init above: the adapter keeps PyTorch's default initialisation (official)
        self.clipTrans = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(cfg.text_dim, cfg.adapter_heads, cfg.adapter_ff, cfg.adapter_dropout,
                                       activation="gelu", batch_first=True),
            cfg.adapter_layers, enable_nested_tensor=False)
        self.clipln = nn.LayerNorm(cfg.text_dim)

    @staticmethod
    def _init_weights(module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm) and module.elementwise_affine:
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    def encode_text(self, token_features, pool_index, token_mask=None):
        """Frozen encoder output (B, L, text_dim) -> condition vector (B, text_dim) at `pool_index`
        (CLIP: the end-of-text token). `token_mask` (B, L), True at real tokens, is used only when the
        config asks for an adapter padding mask."""
        pad = None if (token_mask is None or not self.cfg.adapter_padding_mask) else ~token_mask
        out = self.clipln(self.clipTrans(token_features, src_key_padding_mask=pad))
        return out[torch.arange(out.shape[0], device=out.device), pool_index]

    def trans_forward(self, ids, cond_vector, pad, drop_cond=None):
        """ids (B, 2L) = [person 1 | person 2] (no separator), cond_vector (B, text_dim), pad (B, 2L)
        True at padding; drop_cond (B,) bool replaces the condition by zeros (unconditional) -> logits
        (B, num_tokens, 2L)."""
        if drop_cond is not None:
            cond_vector = cond_vector * (~drop_cond).to(cond_vector.dtype)[:, None]
        B, N = ids.shape
        L = N // 2
        sep = ids.new_full((B, 1), self.cfg.sep_id)
        ids = torch.cat([ids[:, :L], sep, ids[:, L:]], dim=1)
        pad = torch.cat([pad[:, :L], pad.new_zeros(B, 1), pad[:, L:]], dim=1)
        c = self.cond_emb(cond_vector)
        x = self.position_enc(self.input_process(self.token_emb(ids)))
        return self.output_process(self.Transformer(x, c, pad), c)

    def guided_logits(self, ids, cond_vector, pad, scale, batched=True):
        """Classifier-free guidance: uncond + scale * (cond - uncond). With `batched`, the conditional
        and unconditional passes run as one batch (the official code runs two passes)."""
        if scale == 1:
            return self.trans_forward(ids, cond_vector, pad)
        B = ids.shape[0]
        if batched:
            drop = torch.cat([torch.zeros(B, dtype=torch.bool), torch.ones(B, dtype=torch.bool)]).to(ids.device)
            both = self.trans_forward(ids.repeat(2, 1), cond_vector.repeat(2, 1), pad.repeat(2, 1), drop)
            cond, uncond = both[:B], both[B:]
        else:
            cond = self.trans_forward(ids, cond_vector, pad)
            uncond = self.trans_forward(ids, cond_vector, pad, torch.ones(B, dtype=torch.bool, device=ids.device))
        return uncond + scale * (cond - uncond)

    # --------------------------------------------------------------------------------------- training
    def forward(self, ids, cond_vector, m_lens):
        """Training pass. ids (B, 2 * rows * T') token maps of both persons; m_lens (B,) valid steps.
        Returns (loss, accuracy)."""
        cfg = self.cfg
        B, N = ids.shape
        steps = N // (2 * cfg.rows)
        pad = padding_mask(m_lens, steps, cfg.rows).repeat(1, 2)
        ids = ids.masked_fill(pad, cfg.pad_id)
        drop = torch.rand(B, device=ids.device) < cfg.cond_drop_prob
        if cfg.cond_noise > 0 and self.training:
            rms = cond_vector.pow(2).mean(-1, keepdim=True).sqrt()
            cond_vector = cond_vector + cfg.cond_noise * rms * torch.randn_like(cond_vector)

        mask = self._training_mask(B, N, pad)
        labels = torch.where(mask, ids, torch.full_like(ids, cfg.mask_id))
        # BERT-style corruption of the chosen positions: 10 % random code, then 88 % of the rest [MASK]
        x_ids = ids.clone()
        random_code = mask & (torch.rand(B, N, device=ids.device) < 0.1)
        x_ids = torch.where(random_code, torch.randint_like(x_ids, cfg.num_tokens), x_ids)
        to_mask = mask & ~random_code & (torch.rand(B, N, device=ids.device) < 0.88)
        x_ids = torch.where(to_mask, torch.full_like(x_ids, cfg.mask_id), x_ids)

        logits = self.trans_forward(x_ids, cond_vector, pad, drop)
        loss, correct, total = self._cross_entropy(logits, labels)
        if cfg.step_unroll > 0:
            x2, labels2 = self._unrolled_inputs(logits.detach(), x_ids, labels, pad)
            logits2 = self.trans_forward(x2, cond_vector, pad, drop)
            loss2, correct2, total2 = self._cross_entropy(logits2, labels2)
            loss = loss + cfg.step_unroll * loss2
            correct, total = correct + correct2, total + total2
        return loss, correct / total.clamp(min=1)

    def _training_mask(self, B, N, pad):
        """Positions to predict: with probability `interaction_mask_prob` one whole person per sample
        (half the batch each way, reaction-style), otherwise a cosine-scheduled random subset."""
        device = pad.device
        if B % 2 == 0 and torch.rand(()) < self.cfg.interaction_mask_prob:
            first = torch.zeros(N, dtype=torch.bool, device=device)
            first[: N // 2] = True
            if torch.rand(()) < 0.5:
                first = ~first
            mask = torch.stack([first] * (B // 2) + [~first] * (B - B // 2))
        else:
            valid = (~pad).sum(-1)
            ratio = cosine_schedule(torch.rand(B, device=device))
            count = torch.round(valid * ratio).clamp(min=1)
            order = torch.rand(B, N, device=device).masked_fill(pad, 2.0).argsort(-1).argsort(-1)
            mask = order < count[:, None]
        return mask & ~pad

    def _unrolled_inputs(self, logits, x_ids, labels, pad):
        """Step unroll: advance the schedule one step from the first pass's mask ratio, keep the least
        confident [MASK] positions masked and fill the others with the first pass's predictions."""
        cfg = self.cfg
        probs = logits.softmax(dim=1)
        confidence, predicted = probs.max(dim=1)
        masked = x_ids == cfg.mask_id
        valid = (~pad).sum(-1).clamp(min=1)
        ratio = masked.sum(-1) / valid  # (our fix: the official code divides by the padded length)
        t = torch.acos(ratio.clamp(0, 1)) * 2 / math.pi + 1 / 21
        keep = torch.round(cosine_schedule(t.clamp(max=1)) * valid)
        rank = confidence.masked_fill(~masked, float("inf")).argsort(-1).argsort(-1)
        remask = masked & (rank < keep[:, None])
        filled = masked & ~remask
        return torch.where(filled, predicted, x_ids), torch.where(filled, torch.full_like(labels, cfg.mask_id),
                                                                 labels)

    def _cross_entropy(self, logits, labels):
        target = labels != self.cfg.mask_id
        loss = F.cross_entropy(logits, labels, ignore_index=self.cfg.mask_id)
        correct = ((logits.argmax(1) == labels) & target).sum()
        return loss, correct, target.sum()
