"""submitit executors, always chosen explicitly (never auto-detected from the host)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import submitit

from pipeline.config import LauncherConfig
from pipeline.launch.local import LocalExecutor

RESOURCE_KEYS = ("gpus", "cpus", "mem_mb", "time_min", "partition", "account", "qos", "gpu_request", "max_requeues")
"""The launcher settings a rule may override for one job (the launcher's command-line options)."""


def resources_for(launcher: LauncherConfig, **overrides: Any) -> LauncherConfig:
    """The config's launcher settings, overridden by whatever the rule passed (None, "": unset)."""
    unknown = sorted(set(overrides) - set(RESOURCE_KEYS))
    if unknown:
        raise ValueError(f"unknown resources {unknown}: allowed keys are {list(RESOURCE_KEYS)}")
    return replace(launcher, **{key: value for key, value in overrides.items() if value not in (None, "")})


def make_executor(backend: str, folder: str | Path, resources: LauncherConfig, job_name: str) -> submitit.Executor:
    """A LocalExecutor (this package's: requeues as SLURM does) or a SlurmExecutor with the requested resources.

    ``AutoExecutor`` would pick SLURM whenever ``srun`` is on PATH; the backend is a config
    setting instead, so a laptop with SLURM client tools still runs locally when asked to.
    """
    if backend == "local":
        executor = LocalExecutor(folder=folder, max_num_timeout=resources.max_requeues)
        executor.update_parameters(timeout_min=resources.time_min, gpus_per_node=resources.gpus)
        return executor
    if backend != "slurm":
        raise ValueError(f"backend {backend!r}: a submitit executor exists for 'local' and 'slurm'")
    executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=resources.max_requeues)
    params: dict[str, object] = {
        "job_name": job_name,
        "time": resources.time_min,
        "cpus_per_task": resources.cpus,
        "mem": f"{resources.mem_mb}M",
        "signal_delay_s": min(120, max(30, resources.time_min * 60 // 10)),
    }
    if resources.gpus:
        if resources.gpu_request == "gres":
            params["gres"] = f"gpu:{resources.gpus}"
        else:
            params["gpus_per_node"] = resources.gpus
    for key in ("partition", "account", "qos"):
        if getattr(resources, key):
            params[key] = getattr(resources, key)
    executor.update_parameters(**params)
    return executor
