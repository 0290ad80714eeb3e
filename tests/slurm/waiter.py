"""One launcher's wait on a SLURM job, as a process of its own (the scheduler-query test):
``python -m tests.slurm.waiter FOLDER JOB_ID SHARED_DIR|-`` (``-``: the launcher before the
shared poll, which asked sacct itself every interval)."""

import sys
import time

import submitit

from pipeline.launch.poll import SharedWatcher


def main() -> None:
    folder, job_id, shared = sys.argv[1:4]
    job = submitit.SlurmJob(folder, job_id)
    if shared != "-":
        job.watcher = SharedWatcher(shared, 2.0)
        job.watcher.register_job(job_id)
        while not job.done():  # what a launcher's wait does: the result file, else the shared answer
            time.sleep(0.2)
        return
    last = time.monotonic()  # what each launcher did before: its own forced sacct every interval
    while True:
        force = time.monotonic() - last >= 2.0
        if job.done(force_check=force):
            return
        last = time.monotonic() if force else last
        time.sleep(0.2)


if __name__ == "__main__":
    main()
