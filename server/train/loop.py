"""What both training stages share: the learning-rate schedule, resumable checkpoints, one-process or
`torchrun` (DDP) execution, and progress reporting."""

import atexit
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm


@dataclass
class Schedule:
    """Linear warm-up, then the rate divided by `1/gamma` at each milestone (fractions of all steps)."""
    lr: float
    steps: int
    warmup: int
    milestones: tuple = (0.7, 0.85)
    gamma: float = 0.1

    def __call__(self, step):
        if step < self.warmup:
            return self.lr * (step + 1) / self.warmup
        return self.lr * self.gamma ** sum(step >= m * self.steps for m in self.milestones)


def rank():
    """This process's rank under torchrun (0 alone)."""
    return int(os.environ.get("RANK", "0"))


class Runner:
    """Rank, device and (under torchrun) the process group; rank 0 alone writes files and progress."""

    def __init__(self, device=None):
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = rank()
        if device is None:
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        if self.world > 1 and not dist.is_initialized():
            # once a process: the stages of `default` share the group (a second init after a destroy hangs)
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
            atexit.register(dist.destroy_process_group)

    @property
    def main(self):
        return self.rank == 0

    def wrap(self, model):
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel
        return DistributedDataParallel(model, device_ids=[self.device] if self.device.type == "cuda" else None)

    def mean(self, value):
        """A float averaged over the ranks."""
        if self.world == 1:
            return float(value)
        t = torch.tensor([float(value)], device=self.device)
        dist.all_reduce(t)
        return t.item() / self.world

    def progress(self, start, total, desc):
        return tqdm(total=total, initial=start, desc=desc, disable=not self.main, dynamic_ncols=True,
                    mininterval=5.0)

    def close(self):
        """Wait for every rank: rank 0 writes the stage's last checkpoints, which all ranks then read back."""
        if self.world > 1 and dist.is_initialized():
            dist.barrier()


@contextmanager
def written_atomically(path):
    """A temporary path beside `path` (same suffix, this process's own), moved onto `path` when the block
    ends: an interrupted write, or ranks writing the same file at once, never leave half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def save_state(path, **state):
    with written_atomically(path) as tmp:
        torch.save(state, tmp)


def load_state(path):
    path = Path(path)
    return torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None


def resume(path, model, optimiser, generator):
    """Restore a stage from its last checkpoint, if any -> (next step, best validation figure so far)."""
    state = load_state(path)
    if state is None:
        return 0, float("inf")
    model.load_state_dict(state["model"])
    optimiser.load_state_dict(state["optimiser"])
    generator.set_state(state["generator"])
    return int(state["step"]), float(state["best"])


def set_lr(optimiser, lr):
    for group in optimiser.param_groups:
        group["lr"] = lr
