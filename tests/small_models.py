"""Small random-weight models with the real code, for fast tests of sampling, the pipeline and the server."""

import json

import numpy as np
import torch

from server.checkpoints import LoadedModel
from server.model.transformer import MaskTransformer, TransformerConfig
from server.model.vqvae import VQConfig, VQVAE
from server.motion.normalise import Normaliser

SMALL_VQ = VQConfig(nb_code=64, code_dim=32, width=32)
SMALL_TRANSFORMER = TransformerConfig(num_tokens=64, code_dim=32, latent_dim=32, ff_size=64, num_layers=1,
                                      num_heads=2, text_dim=384, adapter_layers=1, adapter_heads=4,
                                      adapter_ff=64, adapter_padding_mask=True)


def small_model(seed=0, vq=SMALL_VQ, transformer=SMALL_TRANSFORMER):
    torch.manual_seed(seed)
    vq_model, t_model = VQVAE(vq), MaskTransformer(transformer)
    vq_model.codebook.codebook.normal_()
    # random (non-zero) modulation, so the condition really changes the logits
    for name, p in t_model.named_parameters():
        if "adaLN" in name:
            torch.nn.init.normal_(p, std=0.05)
    stats = Normaliser(np.zeros(262, np.float32), np.ones(262, np.float32))
    return LoadedModel(vq_model, t_model, stats, "all-minilm-l6-v2", None, f"test-small-{seed}").eval()


def make_tiny_clip_folder(folder):
    """A randomly initialised 2-layer CLIP text tower with a character-level CLIP tokenizer, saved in the
    Hugging Face format: the real loading path without the real weights."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer
    chars = [chr(c) for c in range(33, 127)]
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"], vocab["<|endoftext|>"] = len(vocab), len(vocab) + 1
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt")).save_pretrained(folder)
    config = CLIPTextConfig(vocab_size=len(vocab), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                            num_attention_heads=4, max_position_embeddings=77,
                            bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
                            pad_token_id=vocab["<|endoftext|>"])
    CLIPTextModel(config).save_pretrained(folder)
    return folder
