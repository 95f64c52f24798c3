"""Caption projection: a prompt answered as the training captions nearest to it (`server/model/caption_bank.py`),
shipped with a model (`captions.safetensors`) and applied by the pipeline when the sampling options ask."""

import numpy as np
import pytest
import torch

from server import checkpoints as ck
from server.model.caption_bank import CaptionBank
from server.model.sampling import SamplingOptions
from server.pipeline import CACHED_PROMPTS, Pipeline, RequestError
from server.train.__main__ import caption_bank
from server.train.data import Clip
from small_models import small_model

torch.set_num_threads(1)
CAPTIONS = ["two people shake hands.", "one person hugs the other.", "two people bow to each other.",
            "a person kicks the other.", "two people walk past each other."]
FAMILIES = ["handshake", "hug", "bow", "kick", "walk_past"]


def clips(captions, families):
    return [Clip(None, [c], f) for c, f in zip(captions, families)]


def random_bank(n=50, dim=384, seed=0):
    g = torch.Generator().manual_seed(seed)
    return CaptionBank([f"caption {i}" for i in range(n)], torch.randn(n, dim, generator=g))


def test_one_neighbour_is_the_nearest_captions_vector_exactly():
    bank = random_bank()
    g = torch.Generator().manual_seed(1)
    query = 3.0 * bank.vectors[[7, 21]] + 0.3 * torch.randn(2, 384, generator=g)  # scaled: cosine ignores length
    assert torch.equal(bank.project(query, 1), bank.vectors[[7, 21]])
    assert bank.nearest(query, 1)[1][:, 0].tolist() == [7, 21]


def test_a_blend_weighs_the_neighbours_by_similarity():
    bank = random_bank()
    # a caption's own vector: its random neighbours are near-orthogonal, so the blend is almost only itself
    assert torch.allclose(bank.project(bank.vectors[[3]], 8), bank.vectors[[3]], atol=1e-6)
    # half way between two captions: both weigh the same, the rest almost nothing
    between = bank.vectors[[4]] / bank.vectors[4].norm() + bank.vectors[[9]] / bank.vectors[9].norm()
    assert torch.allclose(bank.project(between, 8), 0.5 * (bank.vectors[[4]] + bank.vectors[[9]]), atol=1e-4)


def test_a_bank_needs_one_vector_and_one_family_per_caption():
    with pytest.raises(ValueError, match="one vector per caption"):
        CaptionBank(["a", "b"], torch.zeros(3, 8))
    with pytest.raises(ValueError, match="one vector per caption"):
        CaptionBank([], torch.zeros(0, 8))
    with pytest.raises(ValueError, match="one family per caption"):
        CaptionBank(["a", "b"], torch.zeros(2, 8), ["hug"])


def test_captions_of_unlabelled_clips_make_a_bank_without_families():
    """A corpus without families (InterHuman, a custom folder): no contact to complete, nothing invented."""
    bank = caption_bank(small_model(), clips(CAPTIONS, [""] * len(CAPTIONS)))
    assert bank.families is None and bank.captions == sorted(CAPTIONS)


@pytest.fixture(scope="module")
def banked(tmp_path_factory):
    """A small random model exported with a caption bank of CAPTIONS, read back."""
    model = small_model()
    model.captions = caption_bank(model, clips(CAPTIONS + CAPTIONS[:2], FAMILIES + FAMILIES[:2]))  # kept once
    model.sampling = {"caption_neighbours": 1}
    folder = tmp_path_factory.mktemp("banked")
    ck.save(model, folder)
    return folder, ck.load(folder)


def test_the_bank_round_trips_with_the_model(banked):
    folder, loaded = banked
    assert loaded.captions.captions == sorted(CAPTIONS) and loaded.sampling == {"caption_neighbours": 1}
    assert loaded.captions.families == [dict(zip(CAPTIONS, FAMILIES))[c] for c in loaded.captions.captions]
    fresh = Pipeline(loaded).condition(loaded.captions.captions)  # the captions' vectors, recomputed
    assert torch.allclose(loaded.captions.vectors, fresh, rtol=2e-3, atol=2e-3)  # stored as float16
    copies = []
    for k in range(6):  # the export is reproducible: safetensors writes several metadata keys in no fixed order
        ck.save(loaded, folder / f"copy{k}")
        copies.append((folder / f"copy{k}" / "captions.safetensors").read_bytes())
    assert len(set(copies)) == 1
    ck.save(small_model(), folder / "again")  # a model without a bank writes none
    assert ck.load(folder / "again").captions is None


def test_a_paraphrase_is_answered_exactly_as_its_nearest_caption(banked):
    _, model = banked
    pipeline = Pipeline(model)
    prompt = "Two persons are shaking hands with one another"
    nearest, family = pipeline.understood(prompt)
    assert (nearest, family) == ("two people shake hands.", "handshake")
    options = SamplingOptions(steps=3, caption_neighbours=1)
    asked, known = (pipeline.generate([p], [2.0], [5], options)[0] for p in (prompt, nearest))
    np.testing.assert_array_equal(asked, known)
    as_worded = pipeline.generate([prompt], [2.0], [5], SamplingOptions(steps=3))[0]
    assert not np.array_equal(as_worded, known)  # the projection is what made them equal


def test_projection_without_a_bank_is_refused_clearly(tmp_path):
    pipeline = Pipeline(small_model())
    assert pipeline.understood("two people hug") is None
    with pytest.raises(RequestError, match="has no caption bank") as info:
        pipeline.generate(["two people hug"], [2.0], [0], SamplingOptions(steps=2, caption_neighbours=1))
    assert info.value.field == "caption_neighbours"
    model = small_model()
    model.sampling = {"caption_neighbours": 1}
    ck.save(model, tmp_path)
    with pytest.raises(ck.CheckpointError, match="captions.safetensors is missing"):
        ck.load(tmp_path)


def test_a_corrupt_or_stale_bank_is_reported_or_removed(banked, tmp_path):
    folder, _ = banked
    import shutil
    shutil.copytree(folder, tmp_path / "m")
    (tmp_path / "m" / "captions.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ck.CheckpointError, match="captions.safetensors is corrupt"):
        ck.load(tmp_path / "m")
    ck.save(small_model(), tmp_path / "m")  # re-exported without a bank: the old one must not linger
    assert not (tmp_path / "m" / "captions.safetensors").exists()


def test_a_prompt_is_encoded_once_and_its_vector_does_not_depend_on_its_batch(banked):
    _, model = banked
    pipeline = Pipeline(model)
    alone = pipeline.condition(["two people hug"])
    fresh = Pipeline(model).condition(["a long prompt about walking", "two people hug", "x"])[1:2]
    assert torch.equal(alone, fresh)  # so a cached vector is exactly what encoding it again would give
    calls = []
    encoder = pipeline.text_encoder
    pipeline.text_encoder = lambda texts: calls.append(list(texts)) or encoder(texts)
    pipeline.condition(["two people hug"] * 4 + ["two people bow"])  # four candidates of one prompt
    pipeline.understood("two people hug")
    assert calls == [["two people bow"]]
    pipeline.condition([f"prompt {i}" for i in range(200)])
    assert len(pipeline._conditions) <= CACHED_PROMPTS
