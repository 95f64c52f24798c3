"""Sampling behaviour with the real model code (small random weights): determinism, fixed tokens in
reaction and inpainting, any length up to 10 s, a temperature that acts, and persons told apart from the
first step when the model has person codes."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from server.model import sampling  # noqa: E402
from server.pipeline import Pipeline, RequestError  # noqa: E402
from server.model.transformer import MaskTransformer, padding_mask  # noqa: E402
from small_models import SMALL_TRANSFORMER, small_model  # noqa: E402

torch.set_num_threads(2)
ROWS = 5


@pytest.fixture(scope="module")
def model():
    return small_model().transformer


def gens(*seeds):
    return [torch.Generator().manual_seed(s) for s in seeds]


def cond(B, seed=0):
    return torch.randn(B, 384, generator=torch.Generator().manual_seed(seed))


OPTS = sampling.SamplingOptions(steps=6)


@pytest.mark.parametrize("m_len", [1, 7, 22, 75])  # 4 frames ... 10 s at 30 fps (300 frames)
def test_generation_is_deterministic_per_seed(model, m_len):
    m_lens = torch.tensor([m_len])
    a = sampling.generate(model, cond(1), m_lens, OPTS, gens(11))
    b = sampling.generate(model, cond(1), m_lens, OPTS, gens(11))
    c = sampling.generate(model, cond(1), m_lens, OPTS, gens(12))
    assert a.shape == (1, 2 * ROWS * m_len)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    assert ((a >= 0) & (a < model.cfg.num_tokens)).all()


def test_batch_rows_do_not_depend_on_each_other(model):
    """Each row has its own generator: a request gives the same tokens alone or batched with others."""
    m_lens = torch.tensor([7, 4])
    both = sampling.generate(model, cond(2), m_lens, OPTS, gens(3, 4))
    alone = sampling.generate(model, cond(2)[1:], m_lens[1:], OPTS, gens(4))
    L = ROWS * 7
    second = torch.cat([both[1, :ROWS * 7].reshape(ROWS, 7)[:, :4].reshape(-1),
                        both[1, L:].reshape(ROWS, 7)[:, :4].reshape(-1)])
    assert torch.equal(second, alone[0])
    padding = torch.cat([both[1, :L].reshape(ROWS, 7)[:, 4:], both[1, L:].reshape(ROWS, 7)[:, 4:]])
    assert (padding == -1).all()


def test_temperature_really_acts(model):
    m_lens = torch.tensor([11])
    cold = [sampling.generate(model, cond(1), m_lens, sampling.SamplingOptions(steps=6, temperature=1e-4), gens(s))
            for s in (1, 2)]
    assert torch.equal(*cold), "a near-zero temperature is greedy: the seed no longer matters"
    hot = [sampling.generate(model, cond(1), m_lens, sampling.SamplingOptions(steps=6, temperature=1.0), gens(s))
           for s in (1, 2)]
    assert not torch.equal(*hot)


def test_gumbel_sampler_is_deterministic_too(model):
    opts = sampling.SamplingOptions(steps=4, gumbel=True)
    a = sampling.generate(model, cond(1), torch.tensor([5]), opts, gens(9))
    assert torch.equal(a, sampling.generate(model, cond(1), torch.tensor([5]), opts, gens(9)))


def test_persons_differ_at_the_first_step_only_with_person_codes(model):
    """The official layout gives both persons the same positional code, so with every token masked (the
    first step of generation) its predictions for the two are identical; person codes tell them apart. A
    zero person code (a model trained without, continued with) changes nothing."""
    from dataclasses import replace
    coded = MaskTransformer(replace(SMALL_TRANSFORMER, person_embedding=True)).eval()
    assert coded.load_state_dict(model.state_dict(), strict=False).missing_keys == ["position_enc.person"]
    m_len = 7
    ids = torch.full((1, 2 * ROWS * m_len), model.cfg.mask_id)
    pad = padding_mask(torch.tensor([m_len]), m_len, ROWS).repeat(1, 2)
    half = ROWS * m_len
    with torch.no_grad():
        official = model.trans_forward(ids, cond(1), pad)
        assert torch.equal(official[..., :half], official[..., half:])
        assert torch.allclose(coded.trans_forward(ids, cond(1), pad), official, atol=1e-6)
        coded.position_enc.person.normal_(std=0.5)  # as trained
        logits = coded.trans_forward(ids, cond(1), pad)
    assert not torch.allclose(logits[..., :half], logits[..., half:], atol=1e-3)


@pytest.mark.parametrize("person", [0, 1])
@pytest.mark.parametrize("seed, m_len", [(0, 1), (1, 7), (2, 22), (3, 75)])
def test_react_never_changes_the_given_person(model, person, seed, m_len):
    given = torch.randint(0, model.cfg.num_tokens, (1, ROWS * m_len), generator=torch.Generator().manual_seed(seed))
    out = sampling.react(model, cond(1, seed), torch.tensor([m_len]), given, person,
                         sampling.SamplingOptions(steps=5), gens(seed))
    L = ROWS * m_len
    kept, made = (out[:, :L], out[:, L:]) if person == 0 else (out[:, L:], out[:, :L])
    assert torch.equal(kept, given)
    assert ((made >= 0) & (made < model.cfg.num_tokens)).all()


@pytest.mark.parametrize("seed, m_len, window, persons", [
    (0, 22, (8, 40), (0, 1)), (1, 22, (0, 12), (1,)), (2, 75, (150, 300), (0,)), (3, 7, (5, 27), (0, 1))])
def test_inpaint_keeps_tokens_outside_the_window(model, seed, m_len, window, persons):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, model.cfg.num_tokens, (1, 2 * ROWS * m_len), generator=g)
    m_lens = torch.tensor([m_len])
    region = sampling.window_mask(m_lens, m_len, ROWS, *window, persons)
    out = sampling.inpaint(model, cond(1, seed), m_lens, ids, region, sampling.SamplingOptions(steps=5), gens(seed))
    assert torch.equal(out[~region], ids[~region])
    assert not torch.equal(out[region], ids[region])
    # the window covers exactly the token steps overlapping the frames, for each chosen person
    steps = region[0].reshape(2, ROWS, m_len)[:, 0]
    first, last = window[0] // 4, -(-window[1] // 4)
    for p in range(2):
        expected = torch.zeros(m_len, dtype=torch.bool)
        if p in persons:
            expected[first:min(last, m_len)] = True
        assert torch.equal(steps[p], expected)


@pytest.fixture(scope="module")
def pipeline():
    return Pipeline(small_model())


@pytest.mark.parametrize("seconds, frames", [(1.0, 28), (1.1, 32), (3.0, 88), (10.0, 300)])
def test_pipeline_lengths(pipeline, seconds, frames):
    (motion,) = pipeline.generate(["two people shake hands"], [seconds], [5], sampling.SamplingOptions(steps=2))
    assert motion.shape == (2, frames, 262)
    assert np.isfinite(motion).all()


def test_pipeline_batch_of_mixed_lengths(pipeline):
    out = pipeline.generate(["a hug", "a push"], [2.0, 1.0], [1, 2], sampling.SamplingOptions(steps=2))
    assert [m.shape[1] for m in out] == [60, 28]


@pytest.mark.parametrize("seconds", [0.5, 10.5, -1.0])
def test_pipeline_rejects_durations_out_of_range(pipeline, seconds):
    with pytest.raises(RequestError, match="outside 1-10 s") as info:
        pipeline.generate(["a hug"], [seconds], [0])
    assert info.value.allowed == [1.0, 10.0]


def test_pipeline_rejects_empty_prompt(pipeline):
    with pytest.raises(RequestError, match="prompt is empty"):
        pipeline.generate(["   "], [2.0], [0])


def test_pipeline_react_and_inpaint_keep_what_they_must(pipeline):
    (first,) = pipeline.generate(["two people wave"], [2.0], [3], sampling.SamplingOptions(steps=3))
    (reaction,) = pipeline.react("the other one waves back", first[0], 0, [4], sampling.SamplingOptions(steps=3))
    assert reaction.shape == (2, 60, 262)
    # the given person is re-decoded from its own tokens, so it equals decode(encode(given))
    ids = pipeline.encode(first[0][None])
    again = pipeline.decode(torch.cat([ids, ids], 1), torch.tensor([15]))[0, 0]
    np.testing.assert_allclose(reaction[0], again, atol=1e-5)
    redone = pipeline.inpaint("two people wave", first, 20, 40, (1,), [7, 8], sampling.SamplingOptions(steps=3))
    assert redone.shape == (2, 2, 60, 262)
    with pytest.raises(RequestError, match="outside the clip"):
        pipeline.inpaint("two people wave", first, 40, 80, (1,), [7])
