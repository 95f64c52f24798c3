"""Caption projection (not in the paper): a prompt's condition vector replaced by the condition vector of
the training caption nearest to it (or a blend of the k nearest).

A model trained on a closed set of caption templates (the synthetic corpus) follows those captions far
better than other wordings of the same request: the text encoder places a paraphrase near the right
captions, but off the vectors the transformer was trained on. Projecting onto the captions it knows trades
what the prompt says beyond them, which such a model could not act out anyway, for being understood.
Which caption a prompt is read as may also be chosen by a paraphrase model (`server/reader.py`), whose
vectors of the captions the bank then carries. Models trained on free-form captions (InterHuman) have no
bank and need none."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# Softmax temperature on cosine similarity: at 0.05 a neighbour 0.05 less similar weighs e times less, so
# near-duplicates of the best match share the weight and a distant eighth adds almost nothing.
TEMPERATURE = 0.05


@dataclass
class CaptionBank:
    captions: list  # the training captions, as text
    vectors: torch.Tensor  # (N, text_dim) their condition vectors (`MaskTransformer.encode_text`)
    # each caption's interaction family, for a corpus that labels them (the synthetic one): what the clean-up
    # completes contacts by (`server/motion/contacts.py`)
    families: list | None = None
    # the prompt reader's unit vectors of the captions (N, reader_dim) and its name (`server/reader.py`)
    reader: str | None = None
    reader_vectors: torch.Tensor | None = None

    def __post_init__(self):
        if self.vectors.ndim != 2 or self.vectors.shape[0] != len(self.captions) or not self.captions:
            raise ValueError(f"a caption bank needs one vector per caption: {len(self.captions)} captions, "
                             f"vectors of shape {tuple(self.vectors.shape)}")
        if self.families is not None and len(self.families) != len(self.captions):
            raise ValueError(f"a caption bank needs one family per caption: {len(self.captions)} captions, "
                             f"{len(self.families)} families")
        if (self.reader is None) != (self.reader_vectors is None) or \
                (self.reader_vectors is not None and len(self.reader_vectors) != len(self.captions)):
            raise ValueError(f"a caption bank's reader needs a name and one vector per caption: {self.reader!r}, "
                             f"{len(self.captions)} captions")
        self.vectors = self.vectors.float()
        if self.reader_vectors is not None:
            self.reader_vectors = F.normalize(self.reader_vectors.float(), dim=-1)
        self._unit = F.normalize(self.vectors, dim=-1)

    def to(self, device):
        reader_vectors = self.reader_vectors.to(device) if self.reader_vectors is not None else None
        return CaptionBank(self.captions, self.vectors.to(device), self.families, self.reader, reader_vectors)

    def with_reader(self, reader, reader_vectors):
        return CaptionBank(self.captions, self.vectors, self.families, reader, reader_vectors)

    def nearest(self, cond, neighbours):
        """cond (B, text_dim) -> (similarities, indices), each (B, neighbours), most similar first."""
        similarity = F.normalize(cond.float(), dim=-1) @ self._unit.to(cond.device).T
        return similarity.topk(min(neighbours, len(self.captions)), dim=-1)

    def project(self, cond, neighbours):
        """cond (B, text_dim) -> the blend of each row's `neighbours` nearest captions' vectors (by cosine),
        weighted by softmax(similarity / TEMPERATURE)."""
        similarity, index = self.nearest(cond, neighbours)
        weights = torch.softmax(similarity / TEMPERATURE, dim=-1)
        return (weights.unsqueeze(-1) * self.vectors.to(cond.device)[index]).sum(1).to(cond.dtype)
