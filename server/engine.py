"""The generator engine: one warm model, a queue, batching, progress, cancel and release.

Requests arrive from the protocol reader (any thread); one worker thread runs them. Compatible generate
requests waiting in the queue (same sampling options) are batched into one sampling run; a cancel stops
a run within one sampling step, and the other requests of that batch go back to the queue."""

import os
import resource
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import checkpoints, protocol
from .model.sampling import SamplingOptions
from .motion import cleanup, contacts, features as F, ik, skeleton as sk
from .motion.rotations import matrix_to_rot6d
from .motion.timing import resample
from .pipeline import Pipeline, RequestError

EMBEDDED_MODEL = Path(__file__).resolve().parent / "weights" / "default"
MAX_BATCH_ROWS = 16


class Cancelled(Exception):
    pass


@dataclass
class ModelSource:
    """Where the weights come from: our format (a folder, the embedded default by default) or an
    official checkpoint folder."""
    folder: str | None = None
    official: str | None = None
    official_name: str = "trans_default"
    which: str = "best_fid"
    stats: str | None = None
    clip: str | None = None

    def load(self):
        if self.official:
            return checkpoints.load_official(self.official, "interhuman", self.official_name, self.which,
                                             self.stats, self.clip)
        folder = Path(self.folder) if self.folder else EMBEDDED_MODEL
        if not (folder / "config.json").is_file() and folder == EMBEDDED_MODEL:
            raise checkpoints.CheckpointError(
                f"the embedded default model is not installed at {folder}; choose a model folder or an "
                f"official checkpoint in the add-on preferences")
        return checkpoints.load(folder)

    def digest(self):
        """Content hash of our-format weights (None for an official checkpoint or missing weights)."""
        folder = Path(self.folder) if self.folder else EMBEDDED_MODEL
        if self.official or not (folder / "config.json").is_file():
            return None
        return checkpoints.weights_digest(folder)

    def describe(self):
        if self.official:
            return f"official:{self.official}/{self.official_name}/{self.which}"
        return str(self.folder or EMBEDDED_MODEL)


def choose_device(preference="auto"):
    """CUDA, then Apple MPS, then the CPU; an explicit choice must be available."""
    available = {"cpu": True, "cuda": torch.cuda.is_available(),
                 "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()}
    if preference == "auto":
        return next(d for d in ("cuda", "mps", "cpu") if available[d])
    if not available.get(preference):
        raise RuntimeError(f"device {preference!r} was requested but is not available here")
    return preference


def memory_report(device):
    report = {"rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    try:
        with open("/proc/self/statm") as statm:
            report["rss_mb"] = round(int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20, 1)
    except OSError:
        pass
    if device == "cuda":
        report["device_allocated_mb"] = round(torch.cuda.memory_allocated() / 2 ** 20, 1)
    return report


@dataclass
class Job:
    request: dict
    op: str
    fields: dict
    received: float = field(default_factory=time.perf_counter)
    cancelled: bool = False

    @property
    def id(self):
        return self.request["id"]

    def options(self, recommended=None):
        """Sampling options: the request's values, the model's recommended ones where the request gave
        none, then the protocol's defaults."""
        f = dict(self.fields)
        f.update({k: v for k, v in (recommended or {}).items() if k not in f["explicit"]})
        return SamplingOptions(steps=f["steps"], guidance=f["guidance"], topk_ratio=f["topk_ratio"],
                               temperature=f["temperature"], caption_neighbours=f["caption_neighbours"])

    def seeds(self):
        return [(self.fields["seed"] + i) % 2 ** 31 for i in range(self.fields["candidates"])]


class Engine:
    def __init__(self, emit, source: ModelSource, device="auto", threads=0):
        self.emit = emit  # emit(event dict): writes one line; thread-safe
        self.source = source
        self.model_hash = source.digest()  # read once: the weights do not change under a running process
        self.device = choose_device(device)
        if threads > 0:
            torch.set_num_threads(threads)
        self.pipeline = None
        self.model_id = None
        self.recommended = {}
        self.reader = self.reader_note = None  # the prompt reader's name once loaded, or why there is none
        self.queue = deque()
        self.lock = threading.Condition()
        self.running = []  # jobs of the batch being sampled
        self.stopping = False
        self.worker = threading.Thread(target=self._work, name="intermask-engine", daemon=True)
        self.worker.start()

    # ------------------------------------------------------------------------------- from the reader
    def submit(self, request):
        """Handle one parsed request: control ops at once, model work through the queue."""
        op, rid = request["op"], request["id"]
        if op == "hello":
            self.emit(self.hello(rid))
        elif op == "cancel":
            target = protocol.cancel_target(request)
            found = self.cancel(target)
            self.emit({"event": "ack", "id": rid, "op": "cancel", "target": target, "found": found})
        elif op == "shutdown":
            self.emit({"event": "ack", "id": rid, "op": "shutdown"})
            self.stop()
        else:
            fields = {"generate": protocol.sampling_fields, "react": protocol.react_fields,
                      "inpaint": protocol.inpaint_fields, "release": lambda r: {}}[op](request)
            with self.lock:
                job = Job(request, op, fields)
                # release goes before waiting work: it runs as soon as the current batch ends
                self.queue.appendleft(job) if op == "release" else self.queue.append(job)
                self.lock.notify()

    def preload(self):
        """Load the model in the worker before any request arrives."""
        with self.lock:
            self.queue.appendleft(Job({"op": "load", "id": "__load__"}, "load", {}))
            self.lock.notify()

    def hello(self, rid):
        return {"event": "hello", "id": rid, "protocol": protocol.VERSION, "model_id": self.model_id,
                "model_source": self.source.describe(), "model_hash": self.model_hash,
                "loaded": self.pipeline is not None, "sampling": self.recommended,
                "reader": self.reader, "reader_note": self.reader_note,
                "device": self.device, "threads": torch.get_num_threads(),
                "capabilities": [op for op in protocol.OPS if op != "hello"],
                "limits": {name: list(spec[2]) for name, spec in protocol.SAMPLING_FIELDS.items()},
                "joint_names": list(sk.JOINT_NAMES), "parents": list(sk.PARENTS), "fps": sk.FPS,
                "memory": memory_report(self.device), "pid": os.getpid()}

    def cancel(self, target):
        with self.lock:
            for job in list(self.queue):
                if job.id == target:
                    self.queue.remove(job)
                    self.emit(protocol.error_event(job.id, "cancelled", "cancelled before it started"))
                    return True
            for job in self.running:
                if job.id == target:
                    job.cancelled = True
                    return True
        return False

    def stop(self):
        with self.lock:
            self.stopping = True
            for job in self.running:
                job.cancelled = True
            self.lock.notify_all()

    def join(self, timeout=None):
        self.worker.join(timeout)

    # --------------------------------------------------------------------------------------- worker
    def _next_batch(self):
        with self.lock:
            while not self.queue and not self.stopping:
                self.lock.wait()
            if self.stopping:
                return []
            first = self.queue.popleft()
            batch = [first]
            if first.op == "generate":
                rows = first.fields["candidates"]
                for job in list(self.queue):
                    if job.op == "generate" and self.options(job) == self.options(first) and \
                            rows + job.fields["candidates"] <= MAX_BATCH_ROWS:
                        self.queue.remove(job)
                        batch.append(job)
                        rows += job.fields["candidates"]
            self.running = batch
            return batch

    def _work(self):
        while True:
            batch = self._next_batch()
            if not batch:
                return
            try:
                self._run(batch)
            except Cancelled:
                with self.lock:
                    for job in reversed(batch):
                        if job.cancelled:
                            self.emit(protocol.error_event(job.id, "cancelled", "cancelled"))
                        elif not self.stopping:
                            self.queue.appendleft(job)
            except protocol.ProtocolError as error:
                self._fail(batch, error.code, str(error), error.field, error.allowed)
            except RequestError as error:
                self._fail(batch, "out_of_range" if error.allowed else "bad_request", str(error), error.field,
                           error.allowed)
            except (checkpoints.CheckpointError, FileNotFoundError) as error:
                self._fail(batch, "model_unavailable", str(error))
            except Exception as error:  # keep serving; the client gets the reason
                self._fail(batch, "internal", f"{type(error).__name__}: {error}")
            finally:
                with self.lock:
                    self.running = []

    def _fail(self, batch, code, message, field=None, allowed=None):
        for job in batch:
            self.emit(protocol.error_event(job.id, code, message, field, allowed))

    def options(self, job):
        """A job's sampling options under the loaded model's recommendations."""
        return job.options(self.recommended)

    def _ensure_model(self):
        if self.pipeline is None:
            model = self.source.load()
            pipeline = Pipeline(model, self.device)
            reader = pipeline.reader  # loaded with the model, so that the first prompt waits for neither
            self.reader, self.reader_note = reader and reader.name, pipeline.reader_note
            if pipeline.reader_note:
                print(f"warning: {pipeline.reader_note}", file=sys.stderr, flush=True)
            self.pipeline = pipeline
            self.model_id = model.model_id
            self.recommended = model.sampling

    def _release(self, job):
        self.pipeline = self.reader = self.reader_note = None
        self.model_id = None
        self.recommended = {}
        import gc
        gc.collect()
        if self.device == "cuda":
            torch.cuda.empty_cache()
        self.emit({"event": "ack", "id": job.id, "op": "release", "memory": memory_report(self.device)})

    def _run(self, batch):
        if batch[0].op == "release":
            return self._release(batch[0])
        if batch[0].op == "load":
            return self._ensure_model()
        start = time.perf_counter()
        self._ensure_model()
        loaded = time.perf_counter()

        def on_step(step, steps):
            if any(job.cancelled for job in batch):
                raise Cancelled
            for job in batch:
                self.emit({"event": "progress", "id": job.id, "step": step, "steps": steps})

        op = batch[0].op
        if op == "generate":
            rows = [(job, s) for job in batch for s in job.seeds()]
            motions = self.pipeline.generate([job.fields["prompt"] for job, _ in rows],
                                             [job.fields["seconds"] for job, _ in rows], [s for _, s in rows],
                                             self.options(batch[0]), on_step)
            sampled = time.perf_counter()
            for job in batch:
                mine = [m for (j, _), m in zip(rows, motions) if j is job]
                self._send_result(job, np.stack(mine), None, start, loaded, sampled, batch_rows=len(rows))
        elif op == "react":
            self._react(batch[0], start, loaded, on_step)
        else:
            self._inpaint(batch[0], start, loaded, on_step)

    @property
    def rate(self):
        """Wire frames (30 fps) per model frame."""
        return sk.FPS // self.pipeline.fps

    def _react(self, job, start, loaded, on_step):
        f = job.fields
        given = F.canonicalise(f["given"])
        feats = person_features(given.positions[:: self.rate])
        motions = self.pipeline.react(f["prompt"], feats, f["given_person"], job.seeds(), self.options(job), on_step)
        keep_given = tuple(k != f["given_person"] for k in (0, 1))  # the user's own partner never moves
        self._send_result(job, motions, given, start, loaded, time.perf_counter(), movable=keep_given)

    def _inpaint(self, job, start, loaded, on_step):
        f = job.fields
        frame = F.canonicalise(f["motion"][0])  # person 1 defines the pair frame
        r = self.rate
        feats = np.stack([person_features(frame.positions[::r]), person_features(frame.from_world(f["motion"][1])[::r])])
        motions = self.pipeline.inpaint(f["prompt"], feats, f["start_frame"] // r, -(-f["end_frame"] // r), f["persons"],
                                        job.seeds(), self.options(job), on_step)
        # no clean-up: moving a person would break the continuity with the frames kept outside the window
        self._send_result(job, motions, frame, start, loaded, time.perf_counter(), movable=(False, False))

    def _send_result(self, job, motions, frame, start, loaded, sampled, batch_rows=None, movable=(True, True)):
        """motions (C, 2, T, 262) in the pair frame -> a result event, mapped back to the caller's frame.
        The persons that `movable` allows are cleaned up (`cleanup.clean_pair`), completing the contacts of the
        family of the caption the prompt was understood as."""
        understood = self.pipeline.understood(job.fields["prompt"]) if self.options(job).caption_neighbours else None
        touch = contacts.INTENDED.get(understood[1]) if understood else None
        candidates = []
        for seed, motion in zip(job.seeds(), motions):
            persons = []
            for positions in served_positions(motion, self.rate, movable, touch):
                feet = F.foot_contacts(positions)
                feet = np.concatenate([feet, feet[-1:]]).astype(np.float32)
                if frame is not None:
                    positions = frame.to_world(positions)
                persons.append({"positions": protocol.encode_array(positions),
                                "contacts": protocol.encode_array(feet)})
            candidates.append({"seed": seed, "persons": persons})
        done = time.perf_counter()
        self.emit({"event": "result", "id": job.id, "op": job.op, "model_id": self.model_id, "device": self.device,
                   "fps": sk.FPS, "frames": int(motions.shape[2]) * self.rate, "joint_names": list(sk.JOINT_NAMES),
                   "parents": list(sk.PARENTS), "contact_joints": list(sk.CONTACT_JOINTS), "candidates": candidates,
                   "batch_rows": batch_rows or len(candidates),
                   "understood_as": understood[0] if understood else None,
                   "reader_note": self.reader_note if understood else None,
                   "timings": {"queued_s": round(start - job.received, 4), "load_s": round(loaded - start, 4),
                               "sampling_s": round(sampled - loaded, 4), "total_s": round(done - job.received, 4)}})


def served_positions(motion, rate, movable=(True, True), touch=None):
    """A sample (2, T, 262) in the pair frame -> both persons' positions as the process serves them: at
    30 fps (`rate` wire frames per model frame), cleaned up (`cleanup.clean_pair`, completing `touch`) where
    `movable` allows."""
    pair = [to_wire_rate(person[:, F.POSITIONS].reshape(-1, sk.N_JOINTS, 3), rate) for person in motion]
    return cleanup.clean_pair(*pair, sk.FPS, movable, touch)


def to_wire_rate(positions, rate):
    """Positions (T, 22, 3) at the model's rate -> (T * rate, 22, 3) at 30 fps, linearly interpolated
    (the last frame held for the final `rate - 1` frames)."""
    if rate == 1:
        return positions
    return resample(positions, sk.FPS // rate, sk.FPS, len(positions) * rate)


def person_features(positions):
    """One person's canonical positions (T, 22, 3) -> (T, 262) features, rotations by IK. The last frame
    is held once more so that no frame is lost to the forward-difference velocities."""
    positions = np.concatenate([positions, positions[-1:]])
    rotations = matrix_to_rot6d(ik.local_rotations(positions)[:, 1:])
    return F.features_from_positions(positions, rotations)
