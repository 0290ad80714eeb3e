"""One launcher's wait on a SLURM job, as a process of its own (the scheduler-query test):
``python -m tests.slurm.waiter FOLDER JOB_ID SHARED_DIR|-``."""

import sys

import submitit

from pipeline.launch.launcher import _wait
from pipeline.launch.poll import SharedWatcher


def main() -> None:
    folder, job_id, shared = sys.argv[1:4]
    job = submitit.SlurmJob(folder, job_id)
    if shared != "-":
        job.watcher = SharedWatcher(shared, 2.0)
        job.watcher.register_job(job_id)
    _wait(job, 0.2, 2.0)


if __name__ == "__main__":
    main()
