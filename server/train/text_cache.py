"""The frozen text encoder's features of the training captions, computed once each. A corpus repeats its
captions (the synthetic one: 14,400 captions, 4,174 distinct), and encoding a batch's captions on every step
costs the default recipe's transformer stage a tenth of a full-length step on 2 CPU cores, more for short
clips (`bench/train_step.py`)."""

import torch

from ..model.text import TextFeatures


class CachedTextEncoder:
    """`encoder` behind a table of its features of `texts`; any other text is encoded as it comes."""

    def __init__(self, encoder, texts, batch=256):
        self.encoder = encoder
        distinct = sorted(set(texts))
        self.row = {t: i for i, t in enumerate(distinct)}
        parts = [encoder(distinct[i:i + batch]) for i in range(0, len(distinct), batch)]
        self.tokens = torch.cat([p.tokens for p in parts]) if parts else None
        self.pool_index = torch.cat([p.pool_index for p in parts]) if parts else None
        self.mask = torch.cat([p.mask for p in parts]) if parts else None

    def __call__(self, texts):
        texts = list(texts)
        if not all(t in self.row for t in texts):
            return self.encoder(texts)
        rows = torch.tensor([self.row[t] for t in texts], dtype=torch.long)
        return TextFeatures(self.tokens[rows], self.pool_index[rows], self.mask[rows])
