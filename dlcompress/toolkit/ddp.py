"""Data-parallel training helpers: the torchrun environment, DDP wrapping, sharding, and a local launcher.

Two ways in, one code path:

- under ``torchrun --nproc-per-node N -m dlcompress distill ...`` every process finds ``RANK``/``WORLD_SIZE``
  in its environment and :func:`from_env` joins the process group;
- ``dlcompress distill ... --nproc N`` calls :func:`launch`, which starts N processes with the same
  environment variables torchrun sets (``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``, ``LOCAL_RANK``,
  ``WORLD_SIZE``, ``LOCAL_WORLD_SIZE``) and returns rank 0's result.

The backend is gloo on CPU and nccl on CUDA devices. Each process takes every ``world_size``-th sample of the
same seeded permutation (padded like ``DistributedSampler`` so every rank runs the same number of steps), and
DDP averages gradients, so parameters stay identical across ranks; only rank 0 writes outputs.
"""

from __future__ import annotations

import os
import pickle
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from dlcompress.toolkit.errors import DLCompressError
from dlcompress.toolkit.progress import set_quiet

ENV_KEYS = ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")


@dataclass(frozen=True)
class Parallel:
    """This process's place in a data-parallel job."""

    rank: int
    world_size: int
    local_rank: int
    backend: str
    device: str = "cpu"

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def wrap(self, model: nn.Module) -> nn.Module:
        """``model`` inside DistributedDataParallel (parameters broadcast from rank 0, gradients averaged)."""
        import warnings

        from torch.nn.parallel import DistributedDataParallel

        # 1-channel convs get gradients with other (equivalent) strides than DDP's buckets: harmless
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        ids = [self.local_rank] if self.device.startswith("cuda") else None
        return DistributedDataParallel(model, device_ids=ids)

    def sync_buffers(self, model: nn.Module) -> None:
        """Copy rank 0's buffers (BatchNorm running statistics) to every rank. DDP does so at the start of each
        forward, so after the last training step each rank still holds the statistics of its own shard."""
        import torch.distributed as dist

        for b in model.buffers():
            dist.broadcast(b.data, 0)

    def shard(self, order: np.ndarray) -> np.ndarray:
        """This rank's part of a global sample order: padded (by wrapping) to a multiple of the world size,
        then every ``world_size``-th item from ``rank`` — DistributedSampler's split."""
        total = -(-len(order) // self.world_size) * self.world_size
        padded = np.resize(order, total) if total != len(order) else order
        return padded[self.rank::self.world_size]

    def all_sum(self, values: list[float]) -> list[float]:
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return [float(v) for v in t.cpu()]

    def params_in_sync(self, model: nn.Module) -> dict[str, Any]:
        """Compare a fingerprint of the parameters and buffers across ranks (all-gather)."""
        import torch.distributed as dist

        fp = fingerprint(model).to(self.device)
        gathered = [torch.zeros_like(fp) for _ in range(self.world_size)]
        dist.all_gather(gathered, fp)
        diff = max(float((g - gathered[0]).abs().max()) for g in gathered)
        return {"ranks": self.world_size, "max_fingerprint_diff": diff, "in_sync": diff == 0.0}


def fingerprint(model: nn.Module) -> torch.Tensor:
    """Two numbers that change when any parameter or buffer changes: the sum, and a dot product with a fixed
    pseudo-random vector (float64)."""
    flat = torch.cat([t.detach().double().flatten().cpu() for t in [*model.parameters(), *model.buffers()]
                      if t.is_floating_point()])
    g = torch.Generator().manual_seed(1234)
    return torch.stack([flat.sum(), (flat * torch.rand(flat.numel(), generator=g, dtype=torch.float64)).sum()])


def in_torchrun() -> bool:
    """True inside a process started by torchrun (or by :func:`launch`) with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1 and "RANK" in os.environ


def from_env(device: str = "cpu") -> Parallel | None:
    """Join the process group described by torchrun's environment variables (None outside torchrun)."""
    if not in_torchrun():
        return None
    import torch.distributed as dist

    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", rank))
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DLCompressError("--device cuda was asked for, but torch sees no CUDA device", "use --device cpu")
        device = f"cuda:{local}"
        torch.cuda.set_device(local)
    backend = "nccl" if device.startswith("cuda") else "gloo"
    set_quiet(rank != 0)
    if not dist.is_initialized():
        dist.init_process_group(backend, rank=rank, world_size=world, timeout=timedelta(minutes=30))
    return Parallel(rank, world, local, backend, device)


def shutdown() -> None:
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


# ---------------------------------------------------------------------------------------------------------
# local launcher (what torchrun does, for one machine)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def launch(fn: Callable[..., Any], args: tuple[Any, ...], nproc: int, threads: int | None = None,
           device: str = "cpu") -> Any:
    """Run ``fn(*args, parallel)`` in ``nproc`` local processes and return rank 0's result.

    Like torchrun, each rank is a fresh interpreter (``python -m dlcompress.toolkit.ddp``) with the
    torchrun environment variables; ``fn`` must be importable (module level) and ``args`` picklable. A failing
    rank stops the others; its error is raised here (a DLCompressError keeps its message).
    """
    import subprocess
    import sys

    if nproc < 2:
        raise DLCompressError(f"--nproc must be at least 2 for data-parallel training, got {nproc}")
    if in_torchrun():
        raise DLCompressError("--nproc cannot be used inside torchrun", "torchrun already started the processes; drop --nproc")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = threads or max(1, cores // nproc)
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="dlc-ddp-") as tmp:
        folder = Path(tmp)
        with (folder / "job.pkl").open("wb") as f:
            pickle.dump((fn, args, threads, device), f)
        procs = []
        for rank in range(nproc):
            env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                   "LOCAL_RANK": str(rank), "WORLD_SIZE": str(nproc), "LOCAL_WORLD_SIZE": str(nproc),
                   "OMP_NUM_THREADS": str(threads)}
            procs.append(subprocess.Popen([sys.executable, "-m", "dlcompress.toolkit.ddp", str(folder)], env=env))
        failed = _wait(procs)
        if failed is not None:
            raise _worker_error(folder, failed, procs[failed].returncode)
        result = folder / "result.pkl"
        if not result.exists():
            raise DLCompressError("data-parallel rank 0 finished without a result")
        with result.open("rb") as f:
            return pickle.load(f)  # noqa: S301 - our own child process wrote it


def _wait(procs: list[Any]) -> int | None:
    """Wait for all processes; on the first failure terminate the rest and return the failing rank."""
    while True:
        alive = False
        for rank, p in enumerate(procs):
            code = p.poll()
            if code is None:
                alive = True
            elif code != 0:
                for q in procs:
                    if q.poll() is None:
                        q.terminate()
                for q in procs:
                    try:
                        q.wait(10)
                    except Exception:  # noqa: BLE001
                        q.kill()
                return rank
        if not alive:
            return None
        time.sleep(0.2)


def _worker_error(folder: Path, rank: int, code: int | None) -> Exception:
    path = folder / f"error-{rank}.pkl"
    if path.exists():
        with path.open("rb") as f:
            err = pickle.load(f)  # noqa: S301
        if isinstance(err, DLCompressError):
            return err
        return DLCompressError(f"data-parallel rank {rank} failed: {err}")
    return DLCompressError(f"data-parallel rank {rank} exited with code {code}")


def _worker(folder: str) -> None:
    """A rank started by :func:`launch`: the environment says which; the job file says what."""
    with (Path(folder) / "job.pkl").open("rb") as f:
        fn, args, threads, device = pickle.load(f)  # noqa: S301 - written by our parent
    rank = int(os.environ["RANK"])
    torch.set_num_threads(threads)
    try:
        parallel = from_env(device)
        result = fn(*args, parallel)
        if rank == 0:
            tmp = Path(folder) / "result.pkl.partial"
            with tmp.open("wb") as f:
                pickle.dump(result, f)
            tmp.replace(Path(folder) / "result.pkl")
    except BaseException as e:  # noqa: BLE001 - reported to the parent, then exit non-zero
        err: Exception = e if isinstance(e, DLCompressError) else RuntimeError(f"{type(e).__name__}: {e}")
        try:
            with (Path(folder) / f"error-{rank}.pkl").open("wb") as f:
                pickle.dump(err, f)
        except Exception:  # noqa: BLE001
            pass
        raise SystemExit(1) from None
    finally:
        shutdown()


if __name__ == "__main__":
    import sys

    _worker(sys.argv[1])
