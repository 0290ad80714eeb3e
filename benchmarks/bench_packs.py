"""A grid's wall time and job count under each ``launcher.pack``, side by side in one run.

    python -m benchmarks.bench_packs slurm [--config config/config.yaml] [--wait-s 20]
    python -m benchmarks.bench_packs local [--config config/config.yaml]

``slurm``: ``snakemake --profile slurm`` on the test cluster (tests/slurm/start.sh) for
``pack: round``, ``chain`` and ``trial``, each job first waiting ``--wait-s`` seconds in the
cluster's Prolog (a simulated queue wait; tests/slurm/start.sh reads it from a file), one GPU
per job (the test cluster has two). ``local``: ``snakemake --cores 2`` as ``make run`` runs it,
inline (one process per round) against the local backend packed. Each run starts from empty
results in a folder of its own; prints one Markdown row per setting.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.bench_topology import machine
from pipeline.store import read_attrs

ROOT = Path(__file__).resolve().parents[1]
PROLOG_WAIT = Path("/tmp/imp-slurm/prolog-sleep-s")  # tests/slurm/start.sh's Prolog reads it
SLURM = {"backend": "slurm", "partition": "gpu", "gpus": 1, "cpus": 1, "mem_mb": 1024, "time_min": 30}
SETTINGS = {
    "slurm": [{**SLURM, "pack": pack} for pack in ("round", "chain", "trial")],
    "local": [
        {"backend": "inline", "pack": "round"},
        {"backend": "local", "pack": "chain"},
        {"backend": "local", "pack": "trial"},
        {"backend": "local", "pack": "trial", "concurrent": 2},
    ],
}


def _run(config: dict, launcher: dict, mode: str) -> dict[str, object]:
    """One empty workdir, one Snakemake run; its wall time, jobs, rounds and the rounds' own work."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-packs-{launcher['pack']}-"))
    settings = {**config, "launcher": {**config.get("launcher", {}), **launcher, "poll_s": 0.5}}
    (workdir / "config").mkdir()
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(settings))
    command = [str(Path(sys.executable).with_name("snakemake")), "-s", str(ROOT / "Snakefile")]
    command += ["--profile", str(ROOT / "slurm")] if mode == "slurm" else ["--cores", "2"]
    command += ["--configfile", "config/config.yaml"]
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin:/usr/sbin:/sbin"}
    start = time.perf_counter()
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{launcher}: snakemake failed:\n{result.stderr[-3000:]}")
    logs = [p.read_text() for p in (workdir / "results/logs/runs").rglob("*.log")]
    jobs = {job for text in logs for job in re.findall(r"submitted \w+ job (\d+)", text)}
    rounds = [read_attrs(p) for p in (workdir / "results/runs").rglob("*.h5")]
    shutil.rmtree(workdir)
    work = sum(a.wall_seconds for a in rounds)
    return {"wall": wall, "jobs": len(jobs) or len(rounds), "rounds": len(rounds), "work": work}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=sorted(SETTINGS))
    parser.add_argument("--config", type=Path, default=ROOT / "config/config.yaml")
    parser.add_argument("--wait-s", type=int, default=20, help="simulated queue wait per SLURM job (Prolog)")
    args = parser.parse_args()
    config = yaml.safe_load(args.config.read_text())
    if args.mode == "slurm":
        PROLOG_WAIT.write_text(str(args.wait_s))
    print(f"_{dt.date.today().isoformat()} — {machine()}; {args.config.name}; mode {args.mode}_\n")
    wait = f", {args.wait_s} s simulated queue wait per job" if args.mode == "slurm" else ""
    print(f"| launcher{wait} | wall s | jobs | rounds | rounds' own work s | wall per round s |")
    print("|---|---|---|---|---|---|")
    try:
        for launcher in SETTINGS[args.mode]:
            r = _run(config, launcher, args.mode)
            name = f"{launcher['backend']}, pack: {launcher['pack']}, concurrent: {launcher.get('concurrent', 1)}"
            per_round = f"{r['wall'] / r['rounds']:.1f}"
            row = [name, f"{r['wall']:.0f}", r["jobs"], r["rounds"], f"{r['work']:.0f}", per_round]
            print("| " + " | ".join(str(c) for c in row) + " |", flush=True)
    finally:
        if args.mode == "slurm":
            PROLOG_WAIT.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
