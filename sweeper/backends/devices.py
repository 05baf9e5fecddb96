"""Which device and which CPU cores each worker process gets.

GPUs are shared out round-robin, at most ``trials_per_gpu`` workers on one; without GPUs the
cores are split into disjoint sets, one per worker, so workers do not fight over cores. A
worker's settings reach it as environment variables, set before Keras is imported.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sweeper.errors import SettingError

if TYPE_CHECKING:
    from sweeper.config import Placement

# One worker per core: on a 2-core machine two single-threaded workers ran 1.7x the trials
# per hour of one two-threaded worker on digits_space, and the same on mnist_space's CNN
# (benchmarks/workers.py throughput): small models leave a second thread idle, big ones
# use it either way. Each worker holds its own copy of the data and of TensorFlow, though,
# so --workers N is there for big data.
CORES_PER_AUTO_WORKER = 1


@dataclass(frozen=True)
class WorkerSlot:
    """Where one worker runs: a GPU (or none) and the CPU cores it may use."""

    index: int
    gpu: str | None
    cpus: tuple[int, ...]

    @property
    def threads(self) -> int:
        return len(self.cpus)

    @property
    def label(self) -> str:
        if self.gpu is not None:
            return f"gpu {self.gpu}"
        return f"cpu {_describe_cpus(self.cpus)}"

    def environment(self) -> dict[str, str]:
        """Variables a worker sets before importing Keras (and TensorFlow, JAX or torch)."""
        threads = str(self.threads)
        env = {
            "CUDA_VISIBLE_DEVICES": self.gpu if self.gpu is not None else "",
            "TF_NUM_INTRAOP_THREADS": threads,
            "TF_NUM_INTEROP_THREADS": "1" if self.threads == 1 else "2",
            "OMP_NUM_THREADS": threads,  # oneDNN and torch size their pools from this
        }
        if self.gpu is not None:  # several workers may share a GPU: allocate on demand
            env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
            env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
        return env


def _describe_cpus(cpus: Sequence[int]) -> str:
    if list(cpus) == list(range(cpus[0], cpus[-1] + 1)) and len(cpus) > 1:
        return f"{cpus[0]}-{cpus[-1]}"
    return ",".join(map(str, cpus))


def available_cpus() -> list[int]:
    """The cores this process may run on (a container or taskset may allow fewer than all)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def detect_gpus() -> list[str]:
    """GPU ids visible here: ``CUDA_VISIBLE_DEVICES`` when set, else what nvidia-smi lists."""
    return survey_gpus()[0]


def survey_gpus() -> tuple[list[str], str]:
    """The GPU ids visible here, and what said so: ``CUDA_VISIBLE_DEVICES`` when it is set,
    else nvidia-smi. Asks nvidia-smi rather than TensorFlow, so the parent never imports TF."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = [g.strip() for g in visible.split(",") if g.strip() and g.strip() != "-1"]
        return ids, f"CUDA_VISIBLE_DEVICES={visible!r}"
    if shutil.which("nvidia-smi") is None:
        return [], "CUDA_VISIBLE_DEVICES is not set and nvidia-smi is not installed"
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        return [], f"nvidia-smi failed ({type(exc).__name__})"
    return [line.strip() for line in out.splitlines() if line.strip()], "nvidia-smi"


def plan_slots(placement: Placement) -> list[WorkerSlot]:
    """One slot per worker process of ``placement``, on its GPUs (None: those detected). GPUs
    named that this machine does not have are refused: a worker "on gpu 7" would train on
    the CPU, or on another GPU, saying nothing."""
    assert placement.workers is not None, "workers=None runs in this process, on no slot"
    gpus = detect_gpus() if placement.gpus is None else placement.gpus
    slots = plan_workers(placement.workers, gpus=gpus, trials_per_gpu=placement.trials_per_gpu)
    if placement.gpus:
        present, source = survey_gpus()
        missing = [gpu for gpu in placement.gpus if gpu not in present]
        if missing:
            has = f"GPUs {', '.join(present)}" if present else "no GPU"
            raise SettingError(
                "gpus",
                f"names GPU {', '.join(missing)}, but this machine has {has} ({source}); name "
                "those it has, or none to train on the CPU",
            )
    return slots


def plan_workers(
    workers: int | str,
    *,
    gpus: Sequence[str],
    trials_per_gpu: int | None = None,
    cpus: Sequence[int] | None = None,
) -> list[WorkerSlot]:
    """One slot per worker. ``workers`` is a count or "auto" (one per GPU times
    ``trials_per_gpu``, or one per core without GPUs)."""
    cpus = list(cpus) if cpus is not None else available_cpus()
    if gpus:
        return _plan_gpu(workers, list(gpus), trials_per_gpu, cpus)
    if trials_per_gpu is not None:
        raise SettingError(
            "trials_per_gpu", "needs GPUs, but none were found or given; drop it or pass {gpus}"
        )
    count = max(1, len(cpus) // CORES_PER_AUTO_WORKER) if workers == "auto" else int(workers)
    return [WorkerSlot(i, None, tuple(share)) for i, share in enumerate(_split(cpus, count))]


def _plan_gpu(workers, gpus, trials_per_gpu, cpus) -> list[WorkerSlot]:
    if workers == "auto":
        count = len(gpus) * (trials_per_gpu or 1)
    else:
        count = int(workers)
        capacity = len(gpus) * trials_per_gpu if trials_per_gpu else count
        if count > capacity:
            raise SettingError(
                "trials_per_gpu",
                f"is {trials_per_gpu}, so {len(gpus)} GPU(s) hold {capacity} workers, not "
                f"{count}; raise {{trials_per_gpu}} to {math.ceil(count / len(gpus))} or lower "
                "{workers}",
            )
    shares = _split(cpus, count)
    return [WorkerSlot(i, gpus[i % len(gpus)], tuple(shares[i])) for i in range(count)]


def _split(cpus: list[int], count: int) -> list[list[int]]:
    """``count`` disjoint, near-equal core sets; with more workers than cores, cores repeat."""
    if count <= len(cpus):
        size, extra = divmod(len(cpus), count)
        shares, start = [], 0
        for i in range(count):
            end = start + size + (1 if i < extra else 0)
            shares.append(cpus[start:end])
            start = end
        return shares
    return [[cpus[i % len(cpus)]] for i in range(count)]
