"""Our VQ-VAE and transformer against outputs of the official code (small seeded models)."""

import pytest

torch = pytest.importorskip("torch")

import reference_models as ref  # noqa: E402
from server.model import sampling  # noqa: E402
from server.model.transformer import padding_mask  # noqa: E402

torch.set_num_threads(2)


@pytest.fixture(scope="module")
def vq_io():
    return ref.io("vq_small_io.npz")


@pytest.fixture(scope="module")
def trans_io():
    return ref.io("trans_small_io.npz")


@pytest.fixture(scope="module")
def transformer():
    return ref.small_transformer()


def close(a, b, atol):
    assert a.shape == b.shape, (a.shape, b.shape)
    diff = (a - b).abs().max().item()
    assert diff <= atol, f"max |diff| {diff:.3g} > {atol}"


@torch.no_grad()
def test_vq_single_sample(vq_io):
    vq = ref.small_vq()
    close(vq.encoder(vq.preprocess(vq_io["x_b1"])), vq_io["z_e_b1"], 1e-5)
    assert torch.equal(vq.encode(vq_io["x_b1"]), vq_io["ids_b1"][..., 0])
    close(vq.decode(vq_io["ids_b1"][..., 0]), vq_io["dec_b1"], 1e-5)


@torch.no_grad()
def test_vq_batch_is_independent_of_batch_position_by_default(vq_io):
    """Ours: graph layers act on frame 0 of every sample = the official result for each item alone."""
    vq = ref.small_vq(graph_on_every_sample=True)
    close(vq.encoder(vq.preprocess(vq_io["x_b2"])), vq_io["z_e_b2_separate"], 1e-5)
    assert torch.equal(vq.encode(vq_io["x_b2"]), vq_io["ids_b2_separate"][..., 0])
    close(vq.decode(vq_io["ids_b2_batched"][..., 0]), vq_io["dec_b2_separate"], 1e-5)


@torch.no_grad()
def test_vq_official_batching_switch_reproduces_the_quirk(vq_io):
    vq = ref.small_vq(graph_on_every_sample=False)
    close(vq.encoder(vq.preprocess(vq_io["x_b2"])), vq_io["z_e_b2_batched"], 1e-5)
    assert torch.equal(vq.encode(vq_io["x_b2"]), vq_io["ids_b2_batched"][..., 0])
    close(vq.decode(vq_io["ids_b2_batched"][..., 0]), vq_io["dec_b2_batched"], 1e-5)


@torch.no_grad()
def test_text_adapter(transformer, trans_io):
    close(transformer.encode_text(trans_io["text_features"], trans_io["eot_index"]), trans_io["cond_vector"], 1e-5)


@torch.no_grad()
def test_positional_table(transformer, trans_io):
    close(transformer.position_enc.positional_encoding(5, 8), trans_io["dbg_pos_enc_table"], 1e-6)


@torch.no_grad()
@pytest.mark.parametrize("batched", [True, False])
def test_logits(transformer, trans_io, batched):
    ids, cond, pad = trans_io["motion_ids"], trans_io["cond_vector"], trans_io["padding_mask"]
    valid = ~pad  # logits at padded positions are not used by anything
    assert torch.equal(pad, padding_mask(trans_io["m_lens"], 8).repeat(1, 2))

    def check(logits, name):
        diff = (logits - trans_io[name]).abs().amax(1)[valid].max().item()
        assert diff <= 1e-4, f"{name}: max |diff| {diff:.3g}"

    check(transformer.trans_forward(ids, cond, pad), "logits_cond")
    check(transformer.trans_forward(ids, cond, pad, torch.ones(2, dtype=torch.bool)), "logits_uncond")
    check(transformer.guided_logits(ids, cond, pad, 2.0, batched=batched), "logits_cfg2")


class _CountMasks:
    """Records how many [MASK] ids each transformer call sees (the re-masking count of a step)."""

    def __init__(self, model):
        self.model, self.counts = model, []
        self.cfg = model.cfg

    def guided_logits(self, ids, cond, pad, scale, batched=True):
        self.counts.append(int((ids == self.cfg.mask_id).sum()))
        return self.model.guided_logits(ids, cond, pad, scale, batched)


@pytest.mark.parametrize("n_valid", ["40", "110", "220", "750"])
def test_generation_schedule_counts(transformer, n_valid):
    entry = ref.schedule()["generate"][n_valid]
    spy = _CountMasks(transformer)
    m_lens = torch.tensor([entry["m_len_token_steps"]])
    sampling.generate(spy, torch.zeros(1, 768), m_lens, sampling.SamplingOptions(steps=20),
                      [torch.Generator().manual_seed(0)])
    assert spy.counts == entry["remask_counts"]


@pytest.mark.parametrize("n_valid", ["20", "55", "110", "375", "40", "220", "750"])
def test_reaction_schedule_counts(transformer, n_valid):
    entry = ref.schedule()["generate_reaction"][n_valid]
    m_len = entry["m_len_token_steps"]
    spy = _CountMasks(transformer)
    given = torch.randint(0, 128, (1, 5 * m_len), generator=torch.Generator().manual_seed(1))
    sampling.react(spy, torch.zeros(1, 768), torch.tensor([m_len]), given, 0,
                   sampling.SamplingOptions(steps=entry["num_steps"]), [torch.Generator().manual_seed(0)])
    assert spy.counts == entry["remask_counts_person2"]


def test_top_k_keeps_the_official_count():
    for n, entry in ref.schedule()["top_k_topkr_0.9"].items():
        logits = torch.randn(3, 7, int(n))
        kept = torch.isfinite(sampling.top_k(logits, 0.9)).sum(-1)
        assert (kept == entry["kept_per_position"]).all()
