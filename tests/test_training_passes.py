"""The training forwards of both networks: losses, masking modes, codebook EMA, and that they learn."""

import pytest

torch = pytest.importorskip("torch")

from server.model.transformer import MaskTransformer, padding_mask  # noqa: E402
from server.model.vqvae import VQVAE  # noqa: E402
from small_models import SMALL_TRANSFORMER, SMALL_VQ, small_model  # noqa: E402

torch.set_num_threads(2)


def batch(B=4, steps=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, SMALL_TRANSFORMER.num_tokens, (B, 2 * 5 * steps), generator=g)
    return ids, torch.randn(B, 384, generator=g), torch.tensor([6, 4, 6, 3][:B])


def text_condition(model, B, seed=0):
    """The adapter path: per-token features of a frozen encoder -> pooled condition vector."""
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randn(B, 12, 384, generator=g)
    mask = torch.arange(12)[None] < torch.tensor([12, 7, 9, 5][:B])[:, None]
    return model.encode_text(tokens, torch.zeros(B, dtype=torch.long), mask)


def test_transformer_training_pass_gives_gradients_everywhere():
    torch.manual_seed(0)
    model = MaskTransformer(SMALL_TRANSFORMER).train()
    ids, _, m_lens = batch()
    loss, acc = model(ids, text_condition(model, 4), m_lens)
    assert torch.isfinite(loss) and 0 <= acc <= 1
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert not no_grad, no_grad


def test_interaction_masking_masks_one_whole_person_per_sample():
    torch.manual_seed(1)
    from dataclasses import replace
    model = MaskTransformer(replace(SMALL_TRANSFORMER, interaction_mask_prob=1.0))
    B, steps = 4, 6
    m_lens = torch.tensor([6, 4, 6, 3])
    pad = padding_mask(m_lens, steps).repeat(1, 2)
    mask = model._training_mask(B, 2 * 5 * steps, pad)
    L = 5 * steps
    for b in range(B):
        first, second = mask[b, :L], mask[b, L:]
        assert (first.all() or not first.any()) or torch.equal(first, ~pad[b, :L])
        assert first.any() != second.any(), "exactly one person is masked"
    assert not torch.equal(mask[0], mask[B - 1]), "the two halves of the batch mask different persons"
    assert not (mask & pad).any()


def test_cosine_masking_never_touches_padding_and_masks_at_least_one():
    model = MaskTransformer(SMALL_TRANSFORMER)
    m_lens = torch.tensor([6, 1, 3, 6])
    pad = padding_mask(m_lens, 6).repeat(1, 2)
    for seed in range(20):
        torch.manual_seed(seed)
        mask = model._training_mask(4, 60, pad)
        assert not (mask & pad).any()
        assert (mask.sum(-1) >= 1).all()


def test_step_unroll_adds_a_second_pass():
    from dataclasses import replace
    ids, cond, m_lens = batch()
    losses = []
    for weight in (0.0, 1.0):
        torch.manual_seed(3)
        model = MaskTransformer(replace(SMALL_TRANSFORMER, step_unroll=weight, interaction_mask_prob=0.0)).train()
        torch.manual_seed(4)
        losses.append(model(ids, cond, m_lens)[0].item())
    assert losses[1] > losses[0] * 1.5  # the second pass's cross-entropy is added


def test_condition_noise_is_relative_to_the_condition_and_only_in_training():
    """Conditioning augmentation: the transformer sees the condition plus Gaussian noise of `cond_noise` times
    its RMS while training, and the condition itself when evaluated (validation, sampling)."""
    from dataclasses import replace
    ids, cond, m_lens = batch()
    cond = 3.0 * cond
    for noise, training in ((0.0, True), (0.5, True), (0.5, False)):
        model = MaskTransformer(replace(SMALL_TRANSFORMER, cond_noise=noise, cond_drop_prob=0.0)).train(training)
        seen, forward = [], model.trans_forward
        model.trans_forward = lambda x, c, *rest: seen.append(c) or forward(x, c, *rest)
        model(ids, cond, m_lens)
        ratio = ((seen[0] - cond).pow(2).mean().sqrt() / cond.pow(2).mean().sqrt()).item()
        assert ratio == pytest.approx(noise if training else 0.0, abs=0.05)


def test_transformer_learns_a_fixed_mapping():
    torch.manual_seed(5)
    model = MaskTransformer(SMALL_TRANSFORMER).train()
    ids, cond, m_lens = batch(B=2, steps=4)
    m_lens = torch.tensor([4, 4])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(100):
        loss, _ = model(ids, cond, m_lens)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) < 0.5 * sum(losses[:10])  # averaged: each step masks differently


def motion_batch(B=2, T=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, T)[None, :, None]
    phase = torch.rand(B, 1, 262, generator=g) * 6.28
    return torch.sin(6.28 * t + phase)


def test_vq_training_pass_initialises_and_updates_the_codebook():
    torch.manual_seed(0)
    vq = VQVAE(SMALL_VQ).train()
    x = motion_batch()
    recon, commit, perplexity = vq(x)
    assert recon.shape == x.shape and torch.isfinite(commit)
    first = vq.codebook.codebook.clone()
    assert first.abs().sum() > 0, "the first batch initialises the codebook from encoder outputs"
    vq(motion_batch(seed=1))
    assert not torch.equal(first, vq.codebook.codebook), "EMA moves the codes"
    assert 1 <= perplexity <= SMALL_VQ.nb_code


def test_vq_eval_reconstruction_equals_encode_then_decode():
    vq = small_model().vq.eval()
    x = motion_batch(T=24)
    with torch.no_grad():
        recon, _, _ = vq(x)
        torch.testing.assert_close(recon, vq.decode(vq.encode(x)), atol=1e-5, rtol=0)


def test_vq_learns_to_reconstruct_a_clip():
    torch.manual_seed(2)
    vq = VQVAE(SMALL_VQ).train()
    x = motion_batch(B=1, T=16)

    def eval_error():
        vq.eval()
        with torch.no_grad():
            error = torch.nn.functional.smooth_l1_loss(vq.decode(vq.encode(x))[..., :258], x[..., :258]).item()
        vq.train()
        return error

    opt = torch.optim.AdamW(vq.parameters(), lr=3e-3)
    before = None
    for step in range(150):
        recon, commit, _ = vq(x)
        loss = torch.nn.functional.smooth_l1_loss(recon[..., :258], x[..., :258]) + 0.02 * commit
        opt.zero_grad()
        loss.backward()
        opt.step()
        before = eval_error() if step == 0 else before
    assert eval_error() < 0.3 * before


def _moved_pair(turn, shift, seed=0):
    """A random pair's features (2, T, 262) in metres before and after the VQ's augmentation."""
    import numpy as np
    from motion_samples import random_pair
    from server.motion.features import encode_pair
    from server.train.vq import moved
    (p1, r1), (p2, r2) = random_pair(3, T=20)
    f = np.stack(encode_pair(p1, r1, p2, r2))
    mean, std = torch.from_numpy(f.mean((0, 1))), torch.from_numpy(f.std((0, 1)) + 0.1)
    x = (torch.from_numpy(f) - mean) / std
    y = moved(x, mean, std, torch.Generator().manual_seed(seed), turn, shift) * std + mean
    return x * std + mean, y


def _joints(a, part):
    return a[..., part].reshape(2, -1, 22, 3)


@pytest.mark.parametrize("turn", [180.0, 30.0])
def test_turned_windows_are_the_same_motion_turned_about_the_vertical(turn):
    """The VQ's turning augmentation: every joint keeps its height, its distance from the vertical axis and
    its distances to the other joints; rotations and foot contacts are untouched; windows turn differently,
    by no more than the largest angle asked for."""
    from server.motion.features import CONTACTS, POSITIONS, ROTATIONS, VELOCITIES
    x, y = _moved_pair(turn, 0.0)
    before, after = _joints(x, POSITIONS), _joints(y, POSITIONS)
    torch.testing.assert_close(after[..., 1], before[..., 1], atol=1e-5, rtol=0)
    torch.testing.assert_close(after[..., [0, 2]].norm(dim=-1), before[..., [0, 2]].norm(dim=-1), atol=1e-4, rtol=0)
    torch.testing.assert_close(torch.cdist(after[0], after[0]), torch.cdist(before[0], before[0]), atol=1e-4, rtol=0)
    torch.testing.assert_close(_joints(y, VELOCITIES).norm(dim=-1), _joints(x, VELOCITIES).norm(dim=-1),
                               atol=1e-5, rtol=0)
    for part in (ROTATIONS, CONTACTS):
        torch.testing.assert_close(y[..., part], x[..., part], atol=1e-5, rtol=0)
    moved = (after - before).norm(dim=-1).mean((1, 2))
    assert (moved > 1e-3).all() and abs(moved[0] - moved[1]) > 1e-4  # turned, and by different angles
    # the angle each joint turned through about the vertical axis, where it is off the axis
    heading = lambda p: torch.atan2(p[..., 2], p[..., 0])  # noqa: E731
    off_axis = before[..., [0, 2]].norm(dim=-1) > 0.2
    angle = torch.remainder(heading(after) - heading(before) + torch.pi, 2 * torch.pi) - torch.pi
    for window in range(2):  # each window turns as one body, within the bound
        turned_by = angle[window][off_axis[window]]
        assert turned_by.max() - turned_by.min() < 1e-3
        assert turned_by.abs().max() <= torch.deg2rad(torch.tensor(turn)) + 1e-4


def test_shifted_windows_are_the_same_motion_moved_sideways():
    """The VQ's sideways shift: each window's joints all move by one distance along X, either way and within
    the bound, and nothing else changes (heights, depths, velocities, rotations, contacts)."""
    from server.motion.features import POSITIONS
    shifts = []
    for seed in range(20):
        x, y = _moved_pair(0.0, 1.5, seed)
        offset = _joints(y, POSITIONS) - _joints(x, POSITIONS)
        torch.testing.assert_close(offset[..., 1:], torch.zeros_like(offset[..., 1:]), atol=1e-5, rtol=0)
        dx = offset[..., 0].flatten(1)
        assert (dx.max(1).values - dx.min(1).values < 1e-4).all()  # one rigid shift per window
        shifts += dx[:, 0].tolist()
        others = [i for i in range(x.shape[-1]) if i not in range(262)[POSITIONS]]
        torch.testing.assert_close(y[..., others], x[..., others], atol=1e-5, rtol=0)
    assert max(map(abs, shifts)) <= 1.5 and min(shifts) < -0.5 and max(shifts) > 0.5
    assert len(set(shifts)) == len(shifts)  # a different shift per window
