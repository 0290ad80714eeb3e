"""The ``local`` backend: submitit's local executor with a controller that requeues as SLURM does.

submitit's own local controller (``submitit.local._local``) has two faults that made a long local
round fail as "FINISHED with no result" whenever it timed out often enough or started slowly:

- it restarts a requeued task at most six times, whatever ``max_num_timeout`` says, so a round
  needing a seventh window ends with no result although the submission had requeues left;
- it sends the timeout signal a fixed time after each restart, and a task still starting up (it
  installs its signal handler only after unpickling the job) dies of that signal instead of
  checkpointing, which the controller reads as the end of the job.

:class:`LocalExecutor` starts :func:`main` instead: as many attempts as the submission may time
out, plus one, and a task killed by the timeout signal before it could handle it is restarted
like one that checkpointed (it resumes from the same submission and the round's own epoch
checkpoint, so nothing is lost; each attempt still counts against the bound).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import submitit
from submitit.local.local import LOCAL_REQUEUE_RETURN_CODE, Controller, LocalJob, LocalJobEnvironment

ATTEMPTS_ENV = "PIPELINE_LOCAL_ATTEMPTS"
"""How many times the controller may start the task: the executor's ``max_num_timeout`` + 1."""


class LocalExecutor(submitit.LocalExecutor):
    """One task on this machine, started by this module's controller (see the module docstring)."""

    def _submit_command(self, command: str) -> LocalJob:
        gpus = self.parameters.get("gpus_per_node", 0)
        env = dict(os.environ)
        env.update(
            SUBMITIT_LOCAL_NTASKS="1",
            SUBMITIT_LOCAL_COMMAND=command,
            SUBMITIT_LOCAL_TIMEOUT_S=str(int(60 * self.parameters.get("timeout_min", 2.0))),
            SUBMITIT_LOCAL_SIGNAL_DELAY_S=str(int(self.parameters.get("signal_delay_s", 30))),
            SUBMITIT_LOCAL_NODEID="0",
            SUBMITIT_LOCAL_JOB_NUM_NODES="1",
            SUBMITIT_STDERR_TO_STDOUT="",
            SUBMITIT_EXECUTOR="local",
            SUBMITIT_LOCAL_WITH_SHELL="",
            CUDA_VISIBLE_DEVICES=",".join(str(k) for k in range(gpus)),
            **{ATTEMPTS_ENV: str(self.max_num_timeout + 1)},
        )
        process = subprocess.Popen([sys.executable, "-m", __name__, str(self.folder)], env=env)
        return LocalJob(folder=self.folder, job_id=str(process.pid), process=process, tasks=[0])


def requeues(exit_code: int | None) -> bool:
    """The task asked for a requeue, or died of the timeout signal before it could handle it."""
    return exit_code in (LOCAL_REQUEUE_RETURN_CODE, -LocalJobEnvironment._usr_sig())


def run_controller(controller: Controller, attempts: int) -> None:
    """Start the task until it ends without asking for a requeue, ``attempts`` times at most."""
    for attempt in range(1, attempts + 1):
        try:
            controller.start_tasks()
            (code,) = controller.wait()
        finally:
            controller.kill_tasks()
        if not requeues(code):
            return
        if code != LOCAL_REQUEUE_RETURN_CODE:
            print(
                f"local controller: attempt {attempt} died of {signal.Signals(-code).name} before it could "
                "checkpoint; restarting it",
                file=sys.stderr,
            )
    print(f"local controller: the task was started {attempts} times, the most its requeues allow", file=sys.stderr)


def main(argv: list[str]) -> None:
    (folder,) = argv
    run_controller(Controller(Path(folder)), int(os.environ[ATTEMPTS_ENV]))


if __name__ == "__main__":
    main(sys.argv[1:])
