"""The small seeded models of ../shared/reference/conformance, loaded into our modules."""

import json

import numpy as np
import torch
from safetensors.torch import load_file

from conftest import reference_file
from server.model.transformer import MaskTransformer, TransformerConfig
from server.model.vqvae import VQConfig, VQVAE

SMALL_VQ = dict(nb_code=128, code_dim=64, width=64)
SMALL_TRANSFORMER = dict(num_tokens=128, code_dim=64, latent_dim=64, ff_size=128, num_layers=2, num_heads=4)


def small_vq(graph_on_every_sample=True):
    vq = VQVAE(VQConfig(graph_on_every_sample=graph_on_every_sample, **SMALL_VQ))
    vq.load_state_dict(load_file(reference_file("conformance", "vq_small.safetensors")), strict=True)
    return vq.eval()


def small_transformer():
    state = load_file(reference_file("conformance", "trans_small.safetensors"))
    with np.load(reference_file("conformance", "trans_small_adapter.npz")) as adapter:
        state.update({k: torch.from_numpy(v) for k, v in adapter.items()})
    model = MaskTransformer(TransformerConfig(**SMALL_TRANSFORMER))
    model.load_state_dict(state, strict=True)
    return model.eval()


def io(name):
    with np.load(reference_file("conformance", name)) as data:
        return {k: torch.from_numpy(v) for k, v in data.items()}


def schedule():
    return json.loads(reference_file("conformance", "sampling_schedule.json").read_text())
