"""Launching rounds as jobs: inline, a local submitit process, or a SLURM job."""

from pipeline.launch.executors import make_executor, resources_for
from pipeline.launch.jobs import RoundJob
from pipeline.launch.launcher import launch_round

__all__ = ["RoundJob", "launch_round", "make_executor", "resources_for"]
