"""Text encoders load from local folders only, through transformers; a missing one says what to do."""

import pytest

torch = pytest.importorskip("torch")

from server.model import text  # noqa: E402
from small_models import make_tiny_clip_folder  # noqa: E402


@pytest.fixture(scope="module")
def minilm():
    return text.load_text_encoder("all-minilm-l6-v2")


def test_minilm_is_offline_and_deterministic(minilm):
    a = minilm(["two people shake hands", "one person pushes the other away"])
    b = minilm(["one person pushes the other away"])
    assert a.tokens.shape == (2, minilm.max_tokens, 384)
    assert torch.equal(a.pool_index, torch.zeros(2, dtype=torch.long))
    assert a.mask[0].sum() < a.mask[1].sum()  # shorter caption, fewer real tokens
    torch.testing.assert_close(a.tokens[1], b.tokens[0], atol=1e-5, rtol=0)  # batch-independent


def test_minilm_mean_variant_pools_the_mean_of_the_real_tokens(minilm):
    texts = ["two people hug", "one person pushes the other away and walks off"]
    f = text.load_text_encoder("all-minilm-l6-v2-mean")(texts)
    batch = minilm.tokenizer(texts, padding="max_length", max_length=minilm.max_tokens, return_tensors="pt")
    raw = minilm.model(**batch).last_hidden_state
    real = batch["attention_mask"].unsqueeze(-1).float()
    torch.testing.assert_close(f.tokens[:, 0], (raw * real).sum(1) / real.sum(1), atol=1e-5, rtol=0)
    torch.testing.assert_close(f.tokens[:, 1:], raw[:, 1:], atol=1e-5, rtol=0)
    assert (raw[:, 0] - f.tokens[:, 0]).abs().max() > 0.05  # not the [CLS] state
    torch.testing.assert_close(minilm(texts).tokens, raw, atol=1e-5, rtol=0)  # the plain kind: untouched


def test_minilm_distinguishes_captions(minilm):
    f = minilm(["two people hug", "two people fight"])
    assert (f.tokens[0, 0] - f.tokens[1, 0]).abs().max() > 0.05


def test_clip_from_a_local_folder(tmp_path):
    encoder = text.CLIPTextEncoder(make_tiny_clip_folder(tmp_path))
    f = encoder(["hi there", "two people shake hands"])
    assert f.tokens.shape == (2, 77, 64)
    # pooled at the end-of-text token: start token + characters/words + end token
    assert f.pool_index.tolist() == [f.mask[0].sum().item() - 1, f.mask[1].sum().item() - 1]


def test_missing_clip_folder_says_what_to_put_where(tmp_path):
    with pytest.raises(text.TextEncoderMissing, match="clip-vit-large-patch14-336.*config.json"):
        text.load_text_encoder("clip-vit-l14-336", tmp_path / "nowhere")
    with pytest.raises(text.TextEncoderMissing, match="no folder given"):
        text.load_text_encoder("clip-vit-l14-336")
    with pytest.raises(ValueError, match="unknown text encoder"):
        text.load_text_encoder("glove")


def test_cached_features_are_the_encoders_own_and_other_texts_still_encode(minilm):
    """Training's caption cache gives what the encoder gives, whatever the batch's order and repeats, and
    passes a text it has not seen to the encoder."""
    from server.train.text_cache import CachedTextEncoder
    captions = ["two people hug", "one person pushes the other away", "they shake hands", "two people hug"]
    cached = CachedTextEncoder(minilm, captions, batch=2)
    assert len(cached.row) == 3  # each distinct caption once
    batch = ["they shake hands", "two people hug", "they shake hands"]
    for texts in (batch, batch + ["a new prompt"]):
        got, want = cached(texts), minilm(texts)
        torch.testing.assert_close(got.tokens, want.tokens, atol=1e-5, rtol=0)
        assert torch.equal(got.pool_index, want.pool_index) and torch.equal(got.mask, want.mask)
    assert "a new prompt" not in cached.row
