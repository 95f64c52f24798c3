"""The training commands end to end on a tiny corpus: corpus -> VQ -> transformer -> export -> the exported
model loads and generates; resuming continues from the last checkpoint; the recogniser learns the corpus."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from server.checkpoints import load
from server.model.sampling import SamplingOptions
from server.pipeline import Pipeline
from server.train import data
from server.train.loop import load_state, save_state

torch.set_num_threads(2)
TINY_VQ = {"nb_code": 32, "code_dim": 16, "width": 16}
TINY_T = {"latent_dim": 32, "ff_size": 64, "num_layers": 1, "num_heads": 2, "adapter_ff": 64}


def run(*args, cwd, launcher=(), threads=2):
    out = subprocess.run([sys.executable, *launcher, "-m", "server.train", *args], cwd=cwd, capture_output=True,
                         text=True, env={"PYTHONPATH": str(cwd), "OMP_NUM_THREADS": str(threads),
                                         "PATH": "/usr/bin:/bin", "HOME": str(cwd)}, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory, repo_root):
    tmp = tmp_path_factory.mktemp("train")
    (tmp / "vq.json").write_text(json.dumps(TINY_VQ))
    (tmp / "t.json").write_text(json.dumps(TINY_T))
    run("corpus", "--out", str(tmp / "corpus"), "--train", "48", "--val", "24", cwd=repo_root)
    run("vq", "--data", str(tmp / "corpus"), "--run", str(tmp / "run"), "--steps", "4", "--batch", "8",
        "--config", str(tmp / "vq.json"), cwd=repo_root)
    run("transformer", "--data", str(tmp / "corpus"), "--run", str(tmp / "run"), "--steps", "3", "--batch", "8",
        "--config", str(tmp / "t.json"), cwd=repo_root)
    run("export", "--run", str(tmp / "run"), "--out", str(tmp / "model"), "--model-id", "tiny", cwd=repo_root)
    return tmp


def test_exported_model_loads_and_generates(trained):
    model = load(trained / "model")
    assert model.model_id == "tiny" and model.fps == 15
    motions = Pipeline(model).generate(["two people shake hands"], [2.0], [0], SamplingOptions(steps=2))
    assert motions[0].shape == (2, 28, 262) and np.isfinite(motions[0]).all()


def test_resuming_continues_from_the_last_checkpoint(trained, repo_root):
    before = torch.load(trained / "run" / "vq_last.pt", weights_only=True)["step"]
    out = run("vq", "--data", str(trained / "corpus"), "--run", str(trained / "run"), "--steps", "6", "--batch", "8",
              "--config", str(trained / "vq.json"), cwd=repo_root)
    after = torch.load(trained / "run" / "vq_last.pt", weights_only=True)["step"]
    assert (before, after) == (4, 6)
    assert "vq step 6" in out.stderr and "vq step 2" not in out.stderr


def test_vq_stage_with_turned_windows_trains_from_the_command_line(trained, repo_root):
    out = run("vq", "--data", str(trained / "corpus"), "--run", str(trained / "turned"), "--steps", "2", "--batch",
              "4", "--turn", "--shift", "1", "--config", str(trained / "vq.json"), cwd=repo_root)
    assert "vq step 2" in out.stderr and (trained / "turned" / "vq_best.pt").exists()


def test_statistics_are_fixed_by_the_first_stage(trained):
    clips = data.load("synthetic", trained / "corpus", "train", 15)
    stats = data.statistics(clips)
    with np.load(trained / "run" / "stats.npz") as s:
        assert np.allclose(s["mean"], stats.mean) and np.allclose(s["std"], stats.std)


def test_recogniser_learns_the_corpus(trained):
    from server.eval import recogniser
    clips = data.load("synthetic", trained / "corpus", "train", 15)
    stats = data.statistics(clips)
    judge = recogniser.train_ensemble(clips, stats, seeds=(0, 1), steps=150, batch_size=32)
    names, member_names = judge.verdicts([c.features for c in clips], stats)
    for found in (names, *member_names):
        assert np.mean([n == c.family for n, c in zip(found, clips)]) > 0.5  # 24 families: chance is about 4 %
    recogniser.save(judge, trained / "judge.pt")
    assert recogniser.load(trained / "judge.pt").verdicts([c.features for c in clips], stats) == (names, member_names)


def test_vq_reconstruction_report(trained):
    """The VQ's own check: reconstructions cut to whole tokens and scored against the same frames of the
    clips; a lossless VQ would score exactly like the clips."""
    from server.eval import reconstruction, recogniser
    from server.train.runs import load_vq, read_stats
    vq, stats = load_vq(trained / "run"), read_stats(trained / "run")
    clips = data.load("synthetic", trained / "corpus", "val", 15)
    judge = recogniser.train_ensemble(data.load("synthetic", trained / "corpus", "train", 15), stats, seeds=(0, 1),
                                      steps=40, batch_size=16)
    T = clips[0].features.shape[1]
    rebuilt = reconstruction.reconstruct(vq, stats, clips[0].features)
    assert rebuilt.shape == (2, T // 4 * 4, 262) and np.isfinite(rebuilt).all()
    report = reconstruction.report(vq, stats, clips, judge)
    names = judge.predict([c.features for c in clips], stats)
    assert report["top1_on_clips"] == np.mean([n == c.family for n, c in zip(names, clips)])
    assert report["joint_error_cm"] > 0 and report["pelvis_relative_error_cm_per_joint"]["pelvis"] == 0

    class Lossless:  # tokens that are the motion itself
        encode = decode = staticmethod(lambda x: x)
    exact = reconstruction.report(Lossless(), stats, clips, judge)
    assert exact["joint_error_cm"] < 1e-3 and exact["pelvis_relative_error_cm"] < 1e-3
    assert all(v["clips"] == pytest.approx(v["reconstructions"], abs=0.1)
               for v in exact["closest_hands_cm_per_family"].values())
    assert exact["closest_hands_cm_per_family"]["handshake"]["clips"] < 5  # the corpus's hands meet


def test_refine_stage_continues_the_best_transformer_and_export_takes_it(trained, tmp_path, repo_root):
    """`refine` starts from transformer_best.pt with condition noise and keeps its own checkpoints; export
    takes its best, and refuses it once the transformer it continued has changed."""
    import shutil
    from server.checkpoints import load
    folder = tmp_path / "run"
    shutil.copytree(trained / "run", folder)
    result = run("refine", "--data", str(trained / "corpus"), "--run", str(folder), "--steps", "2", "--batch", "8",
                 "--config", str(trained / "t.json"), cwd=repo_root)
    assert "refine step 2" in result.stderr
    source = torch.load(folder / "transformer_best.pt", weights_only=True)
    refined = torch.load(folder / "refine_best.pt", weights_only=True)
    assert refined["origin"] == {"step": source["step"], "loss": source["loss"]}
    assert refined["config"]["cond_noise"] == 0.5
    assert any(not torch.equal(refined["model"][k], source["model"][k]) for k in source["model"])
    run("export", "--run", str(folder), "--out", str(tmp_path / "model"), cwd=repo_root)
    exported = load(tmp_path / "model").transformer.state_dict()
    assert all(torch.equal(exported[k], refined["model"][k]) for k in refined["model"])

    source["loss"] += 1.0  # as if the transformer stage had gone on and chosen another best
    torch.save(source, folder / "transformer_best.pt")
    with pytest.raises(AssertionError, match="continues another transformer"):
        run("export", "--run", str(folder), "--out", str(tmp_path / "stale"), cwd=repo_root)


def test_between_persons_term_measures_where_one_person_is_relative_to_the_other():
    """A person shifted as a whole moves every vector between the two by the shift: the weighted mean of the
    smooth-L1 error is then that of the shift alone, whatever the weights; moving both alike costs nothing."""
    from server.motion.features import POSITIONS
    from server.train.decoder import between_persons
    g = torch.Generator().manual_seed(0)
    target = torch.randn(4, 8, 262, generator=g)  # two scenes, persons interleaved
    mean, std = torch.zeros(262), torch.ones(262)
    shift = torch.zeros(262)
    shift[POSITIONS] = torch.tensor([0.1, 0.0, 0.0]).repeat(22)
    moved = target.clone()
    moved[1::2] += shift  # person 2 of each scene, 10 cm along x
    assert between_persons(target, target, mean, std, 0.3).item() == 0
    assert between_persons(target + shift, target, mean, std, 0.3).item() < 1e-6
    assert between_persons(moved, target, mean, std, 0.3).item() == pytest.approx(0.1 - 0.05 / 2)


def test_decoder_stage_refines_reconstruction_and_keeps_every_token(trained, tmp_path):
    """The decoder stage on a barely trained VQ: validation joint error falls, and encoder and codebook are
    untouched, so the tokens of every clip (what a transformer is trained on) are exactly the same."""
    import shutil
    from server.train.decoder import DecoderTrainConfig, scenes, train, validate
    from server.train.runs import load_vq, read_stats
    from server.train.vq import VQTrainConfig
    folder = tmp_path / "run"
    shutil.copytree(trained / "run", folder)
    train_clips = data.load("synthetic", trained / "corpus", "train", 15)
    val_clips = data.load("synthetic", trained / "corpus", "val", 15)
    stats = read_stats(folder)
    before = load_vq(folder, refined=False)
    mean, std = torch.from_numpy(stats.mean), torch.from_numpy(stats.std)
    error_before, _ = validate(before, scenes(before, val_clips, stats, 1), mean, std)
    cfg = DecoderTrainConfig(window=2, batch=4, steps=12, lr=1e-3, warmup=1, val_every=6)
    train(load_vq(folder, refined=False), VQTrainConfig(), cfg, train_clips, val_clips, stats, folder, "cpu")
    after = load_vq(folder)
    best = torch.load(folder / "decoder_best.pt", weights_only=True)
    assert best["error"] < error_before
    assert validate(after, scenes(after, val_clips, stats, 1), mean, std)[0] == pytest.approx(best["error"])
    for clip in val_clips:
        x = torch.from_numpy(stats.forward(clip.features[:, : clip.features.shape[1] // 4 * 4]).astype(np.float32))
        assert torch.equal(before.encode(x), after.encode(x))

    # a decoder refined for one VQ is refused on another, never silently paired with it
    state = torch.load(folder / "vq_best.pt", weights_only=True)
    state["model"]["quantizer.layers.0.codebook"] += 1.0
    torch.save(state, folder / "vq_best.pt")
    with pytest.raises(ValueError, match="refined for another VQ-VAE"):
        load_vq(folder)


def test_evaluation_recognises_raw_and_served_samples(trained):
    """The held-out evaluation end to end on the tiny model: each of the 100 prompts is named twice, as
    sampled and as the generator process serves it (`engine.served_positions`, tested in test_cleanup.py)."""
    from server.eval import recogniser
    from server.eval.__main__ import evaluate
    clips = data.load("synthetic", trained / "corpus", "train", 15)
    judge = recogniser.train_ensemble(clips, data.statistics(clips), seeds=(0, 1), steps=20, batch_size=16)
    recogniser.save(judge, trained / "corpus" / "recognisers.pt")  # the cache evaluate() reads
    report = evaluate(trained / "model", trained / "corpus", seconds=2.0, steps=2, log=lambda m: None)
    results = report["results"]
    assert report["prompts"] == len(results) == 100
    assert report["top1"] == np.mean([r["recognised"] == r["family"] for r in results])
    assert report["top1_served"] == np.mean([r["recognised_served"] == r["family"] for r in results])
    assert len(report["top1_served_per_member"]) == 2
    assert set(report["per_family_top1_served"]) == {r["family"] for r in results}
    assert report["physics_ratio"].keys() == report["physics_ratio_raw"].keys()

    templated = evaluate(trained / "model", trained / "corpus", seconds=2.0, steps=2, log=lambda m: None,
                         captions="validation")
    val = {c.captions[1]: c.family for c in data.load("synthetic", trained / "corpus", "val", 15)}
    assert templated["prompts"] == len(val) == 24  # the tiny corpus has fewer than 96 scenes: all of them
    assert all(val[r["prompt"]] == r["family"] for r in templated["results"])


def test_custom_folder_source(tmp_path):
    from server.synth import corpus
    scene = corpus.samples(1, seed=1)[0]
    for k, p in enumerate(scene.positions, 1):
        np.save(tmp_path / f"clip.person{k}.npy", p)
    (tmp_path / "clip.txt").write_text("two people do something\nanother caption\n")
    clips = data.load("custom", tmp_path, "train", 15)
    assert len(clips) == 1 and clips[0].captions == ["two people do something", "another caption"]
    assert clips[0].features.shape == (2, len(scene.positions[0][::2]) - 1, 262)
    np.save(tmp_path / "bad.person1.npy", np.zeros((5, 21, 3)))
    np.save(tmp_path / "bad.person2.npy", np.zeros((5, 21, 3)))
    with pytest.raises(ValueError, match="expected \\(T, 22, 3\\)"):
        data.load("custom", tmp_path, "train", 15)


def test_default_recipe_rehearsed_end_to_end_then_found_finished(tmp_path, repo_root):
    """`default --rehearse`: every stage of the embedded default's recipe, in order, on the real model configs
    (a tiny corpus, a few steps a stage), exported where asked; run again, every stage is found finished and
    the export is the same model."""
    args = ("default", "--rehearse", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "model"))
    first = run(*args, cwd=repo_root)
    for line in ("vq step 4", "decoder step 4", "transformer step 3", "refine step 2", "exported rehearsal"):
        assert line in first.stderr
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["training"]["transformer_step"] == 3 and config["training"]["refine_step"] == 2
    weights = (tmp_path / "model" / "transformer.safetensors").read_bytes()
    captions = (tmp_path / "model" / "captions.safetensors").read_bytes()
    second = run(*args, cwd=repo_root)
    assert not any(f"{stage} step" in second.stderr for stage in ("vq", "decoder", "transformer", "refine"))
    assert (tmp_path / "model" / "transformer.safetensors").read_bytes() == weights
    assert (tmp_path / "model" / "captions.safetensors").read_bytes() == captions
    model = load(tmp_path / "model")
    # the caption bank holds the training corpus's captions, and the model recommends answering from it
    train_captions = {c for clip in data.load("synthetic", tmp_path / "run" / "corpus", "train", 15) for c in clip.captions}
    assert set(model.captions.captions) == train_captions and model.sampling["caption_neighbours"] == 1
    from server import reader as rd  # and, where the reader is prepared, its vectors of them (as shipped)
    assert model.captions.reader == (rd.READER if rd.prepared(rd.reader_folder()) else None)
    options = SamplingOptions(steps=2, **model.sampling)
    motion = Pipeline(model).generate(["two people shake hands"], [2.0], [0], options)[0]
    assert motion.shape == (2, 28, 262) and np.isfinite(motion).all()


def test_default_recipe_runs_under_torchrun_on_two_cpu_processes(tmp_path, repo_root):
    """`torchrun` with two CPU processes (gloo), the documented form with `--`: every stage of the rehearsed
    recipe runs to its end on both ranks (each waits for rank 0's checkpoints before reading them back), rank 0
    alone reports and exports, and the model it writes loads and generates."""
    launcher = ("-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2")
    out = run("--", "default", "--rehearse", "--run", str(tmp_path / "run"), "--out", str(tmp_path / "model"),
              cwd=repo_root, launcher=launcher, threads=1)
    for line in ("vq step 4", "decoder step 4", "transformer step 3", "refine step 2", "exported rehearsal"):
        assert out.stderr.count(line) == 1, line
    assert list(tmp_path.rglob(".*")) == []  # no temporaries, in the run, its corpus or the model
    motion = Pipeline(load(tmp_path / "model")).generate(["two people shake hands"], [2.0], [0],
                                                         SamplingOptions(steps=2))[0]
    assert motion.shape == (2, 28, 262) and np.isfinite(motion).all()


def test_an_interrupted_checkpoint_write_leaves_the_previous_checkpoint_whole(tmp_path):
    """A write that fails half-way (a full disk, a killed rank: here an object torch cannot save) keeps the
    checkpoint written before it, byte for byte, and leaves no temporary beside it."""
    path = tmp_path / "transformer_last.pt"
    save_state(path, step=250, weights=torch.arange(6.0))
    before = path.read_bytes()
    with pytest.raises(Exception, match="pickle"):  # failed while writing, not before
        save_state(path, step=500, weights=torch.arange(6.0), hook=lambda: None)  # a lambda cannot be pickled
    assert path.read_bytes() == before and load_state(path)["step"] == 250
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
