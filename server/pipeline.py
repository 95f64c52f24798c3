"""Prompt -> two people's motion: text encoding, token sampling, VQ decoding and de-normalisation.

This is the model behind the generator process's small interface: `generate`, `react` and `inpaint` take
and return per-person features in model space (metres, Y up, the pair's canonical frame, 30 fps)."""

from dataclasses import dataclass

import numpy as np
import torch

from .checkpoints import LoadedModel
from .model import sampling
from .model.text import load_text_encoder
from .motion import features as F

MIN_SECONDS, MAX_SECONDS = 1.0, 10.0
CACHED_PROMPTS = 64  # condition vectors kept: a prompt's candidates, and its caption lookup, encode it once
FRAMES_PER_TOKEN = sampling.FRAMES_PER_TOKEN


class RequestError(ValueError):
    """A request the model cannot serve; `allowed` names the valid range where there is one."""

    def __init__(self, message, field=None, allowed=None):
        super().__init__(message)
        self.field, self.allowed = field, allowed


@dataclass
class Motion:
    """Candidates x 2 persons of de-normalised features (C, 2, T, 262) and the seed of each candidate."""
    features: np.ndarray
    seeds: list
    fps: int

    @property
    def frames(self):
        return self.features.shape[2]

    def positions(self):
        """(C, 2, T, 22, 3) joint positions."""
        C, P, T = self.features.shape[:3]
        return self.features[..., F.POSITIONS].reshape(C, P, T, 22, 3)


def token_steps(seconds, fps):
    if not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise RequestError(f"duration {seconds:g} s is outside {MIN_SECONDS:g}-{MAX_SECONDS:g} s", "seconds",
                           [MIN_SECONDS, MAX_SECONDS])
    return int(round(seconds * fps)) // FRAMES_PER_TOKEN


def check_prompts(prompts):
    for prompt in prompts:
        if not prompt.strip():
            raise RequestError("the prompt is empty: describe what the two people do", "prompt")


def remembered(cache, keys, compute):
    """[cache[k] for k in keys], computing the missing ones in one call of `compute(new keys) -> values`;
    the cache keeps the CACHED_PROMPTS most recently added keys."""
    new = [k for k in dict.fromkeys(keys) if k not in cache]
    if new:
        cache.update(zip(new, compute(new)))
    values = [cache[k] for k in keys]
    for old in list(cache)[:max(len(cache) - CACHED_PROMPTS, 0)]:
        del cache[old]
    return values


class Pipeline:
    def __init__(self, model: LoadedModel, device="cpu", text_encoder=None, reader=None):
        """`reader`: the prompt reader (`server/reader.py`) for a bank indexed by one; by default loaded
        when a prompt is first read, and where it cannot be (`reader_note` says why) the condition vectors
        read prompts instead."""
        self.model = model
        self.device = torch.device(device)
        model.vq.to(self.device)
        model.transformer.to(self.device)
        if model.captions is not None:
            model.captions = model.captions.to(self.device)
        self.text_encoder = text_encoder or load_text_encoder(model.text_encoder, model.text_encoder_folder,
                                                              self.device)
        self._reader, self.reader_note = reader, None
        self._conditions = {}  # prompt -> condition vector, oldest first (text is padded to a fixed length,
        # so a prompt's vector does not depend on the prompts encoded with it)
        self._readings = {}  # prompt -> index of the caption it is read as

    @property
    def fps(self):
        return self.model.fps

    @torch.no_grad()
    def condition(self, prompts, neighbours=0):
        """Prompts -> condition vectors (B, text_dim); with `neighbours`, each prompt is read as one of the
        caption bank's captions (`read`) and answered as the blend of that many captions nearest to it
        (`CaptionBank.project`; 1: that caption's own vector)."""
        check_prompts(prompts)
        if neighbours:
            bank = self._bank(neighbours)
            read = bank.vectors[self.read(prompts)]
            return read if neighbours == 1 else bank.project(read, neighbours)
        return torch.stack(remembered(self._conditions, prompts, self._encode))

    def _encode(self, prompts):
        t = self.text_encoder(prompts)
        return self.model.transformer.encode_text(t.tokens.to(self.device), t.pool_index.to(self.device),
                                                  t.mask.to(self.device))

    @property
    def reader(self):
        """The prompt reader for this model's bank, or None (no bank, a bank without reader vectors, or a
        reader that could not be loaded: `reader_note`)."""
        bank = self.model.captions
        if self._reader is None and self.reader_note is None and bank is not None and bank.reader:
            from .reader import READER, ReaderMissing, SentenceReader
            try:
                if bank.reader != READER:
                    raise ReaderMissing(f"this generator has no reader {bank.reader!r}")
                self._reader = SentenceReader(device=self.device)
            except ReaderMissing as error:
                self.reader_note = f"{error}; prompts are read by the model's own text encoder instead"
        return self._reader

    @torch.no_grad()
    def read(self, prompts):
        """Prompts -> the index in the caption bank of the caption each is read as: the reader's choice
        (`reader.choose`), or without a reader the caption whose condition vector is nearest."""
        check_prompts(prompts)
        self._bank(1)
        return remembered(self._readings, prompts, self._read)

    def _read(self, prompts):
        bank = self.model.captions
        if self.reader is None:
            return bank.nearest(torch.stack(remembered(self._conditions, prompts, self._encode)), 1)[1][:, 0].tolist()
        from .reader import choose
        similarity = self.reader(prompts).to(bank.reader_vectors.device) @ bank.reader_vectors.T
        return choose(similarity, bank.families)

    def understood(self, prompt):
        """(caption, family) of the training caption the model understands `prompt` as (`read`; family None
        where the bank has none), or None for a model without a bank."""
        bank = self.model.captions
        if bank is None:
            return None
        i = self.read([prompt])[0]
        return bank.captions[i], bank.families[i] if bank.families else None

    def _bank(self, neighbours):
        if self.model.captions is None:
            raise RequestError(f"caption_neighbours {neighbours}: the model {self.model.model_id} has no caption "
                               "bank; use 0", "caption_neighbours", [0, 0])
        return self.model.captions

    def _generators(self, seeds):
        return [torch.Generator(device=self.device).manual_seed(int(s)) for s in seeds]

    @torch.no_grad()
    def decode(self, ids, m_lens):
        """Token ids (B, 2L) -> de-normalised features (B, 2, 4 * max(m_lens), 262)."""
        L = ids.shape[1] // 2
        feats = self.model.vq.decode(torch.cat([ids[:, :L], ids[:, L:]], dim=0))  # both persons in one batch
        B = ids.shape[0]
        out = torch.stack([feats[:B], feats[B:]], dim=1).cpu().numpy()
        return self.model.normaliser.backward(out).astype(np.float32)

    @torch.no_grad()
    def encode(self, person_features):
        """De-normalised features of one person (B, T, 262), T a multiple of 4 -> ids (B, 5T/4)."""
        x = torch.from_numpy(self.model.normaliser.forward(np.asarray(person_features, np.float32)))
        return self.model.vq.encode(x.to(self.device))

    def generate(self, prompts, seconds, seeds, options=sampling.SamplingOptions(), on_step=None):
        """One sample per (prompt, seconds, seed) row -> features (B, 2, T, 262), trimmed per row."""
        steps = [token_steps(s, self.fps) for s in seconds]
        m_lens = torch.tensor(steps, device=self.device)
        ids = sampling.generate(self.model.transformer, self.condition(prompts, options.caption_neighbours), m_lens,
                                options,
                                self._generators(seeds), on_step)
        feats = self.decode(ids, m_lens)
        return [feats[b, :, : steps[b] * FRAMES_PER_TOKEN] for b in range(len(steps))]

    def react(self, prompt, given, given_person, seeds, options=sampling.SamplingOptions(steps=10), on_step=None):
        """`given` (T, 262) features of one person (T >= 4); the other person is generated around it, once
        per seed -> (len(seeds), 2, T', 262)."""
        T = (len(given) // FRAMES_PER_TOKEN) * FRAMES_PER_TOKEN
        if T < FRAMES_PER_TOKEN:
            raise RequestError("the given motion is shorter than 4 frames", "frames")
        given_ids = self.encode(np.asarray(given)[None, :T]).repeat(len(seeds), 1)
        m_lens = torch.full((len(seeds),), T // FRAMES_PER_TOKEN, device=self.device)
        cond = self.condition([prompt], options.caption_neighbours).repeat(len(seeds), 1)
        ids = sampling.react(self.model.transformer, cond, m_lens, given_ids, given_person, options,
                             self._generators(seeds), on_step)
        return self.decode(ids, m_lens)

    def inpaint(self, prompt, motion, start_frame, end_frame, persons, seeds, options=sampling.SamplingOptions(),
                on_step=None):
        """`motion` (2, T, 262) features; frames [start_frame, end_frame) of `persons` are regenerated, once
        per seed -> (len(seeds), 2, T', 262)."""
        motion = np.asarray(motion, np.float32)
        T = (motion.shape[1] // FRAMES_PER_TOKEN) * FRAMES_PER_TOKEN
        if not 0 <= start_frame < end_frame <= T:
            raise RequestError(f"frame window [{start_frame}, {end_frame}) is outside the clip's 0-{T} frames",
                               "frames", [0, T])
        ids = self.encode(motion[:, :T])  # (2, 5T/4)
        ids = torch.cat([ids[0], ids[1]])[None].repeat(len(seeds), 1)
        steps = T // FRAMES_PER_TOKEN
        m_lens = torch.full((len(seeds),), steps, device=self.device)
        window = sampling.window_mask(m_lens, steps, self.model.transformer.cfg.rows, start_frame, end_frame,
                                      persons)
        cond = self.condition([prompt], options.caption_neighbours).repeat(len(seeds), 1)
        ids = sampling.inpaint(self.model.transformer, cond, m_lens, ids, window, options,
                               self._generators(seeds), on_step)
        return self.decode(ids, m_lens)
