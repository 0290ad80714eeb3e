import os
import re
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli.configuration import schema_text
from pipeline.config import Config, load_config
from pipeline.fields import markdown_reference
from pipeline.report import registry
from pipeline.store import paths, read_round
from tests.fixtures import place_data
from tests.workflow.conftest import ROOT, SNAKEMAKE, TINY, snakemake, snakemake_env, write_config


def job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[1].split("Reasons:")[0]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            {"training": {"optimizer": "rmsprop"}},
            "'training.optimizer' = 'rmsprop': allowed values are ['sgd', 'adam']",
        ),
        ({"grid": {"pairs": ["resnet18/svhn"]}}, "'grid.pairs[0]' = 'resnet18/svhn': allowed values are"),
        (
            {"pruning": {"scope": "everywhere"}},
            "'pruning.scope' = 'everywhere': allowed values are ['local', 'global']",
        ),
        ({"grid": {"trials": "two"}}, "'grid.trials' = 'two': expected an integer"),
        ({"launcher": {"gpu": 1}}, "'launcher.gpu': unknown key; allowed keys are"),
    ],
)
def test_bad_config_fails_before_any_job_naming_the_key(workdir, override, message):
    bad = write_config(workdir, override, "bad.yaml")
    result = snakemake(workdir, "-n", "--configfile", "config/config.yaml", bad.name)
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert not (workdir / "results").exists()


def test_dag_of_a_small_grid(workdir):
    write_config(workdir, {"grid": {"pairs": ["fcn/mnist-5k", "conv/mnist-5k"], "trials": 2, "rounds": 3}}, "g.yaml")
    result = snakemake(workdir, "-n", "--configfile", "config/config.yaml", "g.yaml", check=True)
    counts = job_counts(result.stdout)
    expected = {"dense_round": 4, "prune_round": 24, "figures": 2, "tables": 1, "eta_tau": 1, "all": 1}
    assert counts == expected | {"total": 33}


def place_data_of(workdir: Path, config_file: Path) -> None:
    """Stand-ins for the data sets a configuration's grid needs, where it looks for them."""
    config = load_config(config_file)
    place_data(workdir / config.data.root, {pair.split("/")[1] for pair in config.grid.pairs})


def test_paper_grid_dry_run_lists_every_round(tmp_path):
    write_config(tmp_path, {})
    place_data_of(tmp_path, ROOT / "config/paper.yaml")
    start = time.perf_counter()
    result = snakemake(tmp_path, "-n", "--quiet", "rules", "--configfile", str(ROOT / "config/paper.yaml"), check=True)
    seconds = time.perf_counter() - start
    counts = job_counts(result.stdout)
    assert counts["dense_round"] == 8 * 3 and counts["prune_round"] == 8 * 3 * 2 * 20 and counts["figures"] == 8
    print(f"paper grid dry run: {counts['total']} jobs in {seconds:.1f} s")


@pytest.mark.parametrize(
    ("name", "dense", "prune"),
    [
        ("open-question-fcn", 5, 5 * 6 * 7),
        ("open-question-fcn-late", 5, 5 * 2 * 7),
        ("open-question-conv", 6, 2 * 3 * 6 * 3),
    ],
)
def test_open_question_configs_dry_run(tmp_path, name, dense, prune):
    write_config(tmp_path, {})
    config = str(ROOT / f"config/{name}.yaml")
    place_data_of(tmp_path, Path(config))
    result = snakemake(tmp_path, "-n", "--quiet", "rules", "--configfile", config, check=True)
    counts = job_counts(result.stdout)
    assert counts["dense_round"] == dense and counts["prune_round"] == prune


def test_a_missing_data_set_stops_even_a_dry_run_naming_where_to_put_it(workdir):
    grid = {"pairs": ["fcn/mnist", "conv/mnist", "fcn/mnist-5k", "resnet20/cifar10"], "rounds": 1}
    write_config(workdir, {"grid": grid, "data": {"root": "/nonexistent"}}, "d.yaml")
    result = snakemake(workdir, "-n", "--configfile", "config/config.yaml", "d.yaml")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Building DAG" not in output
    lines = [line for line in output.splitlines() if line.startswith("data set ")]
    assert len(lines) == 2, output  # one per missing data set; mnist-5k is shipped
    assert "'mnist' not found: put train-images-idx3-ubyte, " in lines[0] and " in /nonexistent/MNIST/raw (" in lines[0]
    assert "'cifar10' not found" in lines[1] and "/nonexistent/cifar-10-batches-py" in lines[1]
    place_data(workdir / "data", ["mnist", "cifar10"])  # the files exist: the plan is made (nothing read)
    write_config(workdir, {"grid": grid, "data": {"root": "data"}}, "d.yaml")
    snakemake(workdir, "-n", "--configfile", "config/config.yaml", "d.yaml", check=True)


@pytest.mark.parametrize(
    ("args", "asked"),
    [
        (["--profile", str(ROOT / "slurm"), "--configfile", "config/config.yaml"], "--resources gpus=8"),
        (["--set-resources", "prune_round:gpus=1"], "prune_round: gpus=1"),
        (["--configfile", "config/config.yaml", "gpus.yaml"], "dense_round: gpus=1; prune_round: gpus=1"),
    ],
    ids=["profile-without-launcher-yaml", "set-resources", "launcher-gpus"],
)
def test_a_gpu_run_that_would_train_inline_is_refused_before_any_job(workdir, args, asked):
    write_config(workdir, {"launcher": {"gpus": 1}}, "gpus.yaml")
    result = snakemake(workdir, "-n", *args)
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "Building DAG" not in output, output
    refusal = f"launcher.backend is 'inline' but this run asks for GPUs ({asked}): every round would train"
    assert refusal in output and "--configfile my.yaml slurm/launcher.yaml" in output, output


def test_the_profile_takes_round_resources_from_the_launcher_file(workdir):
    launcher = (ROOT / "slurm/launcher.yaml").read_text().replace("time_min: 120", "time_min: 45")
    (workdir / "launcher.yaml").write_text(launcher)
    profile = ["--profile", str(ROOT / "slurm"), "--configfile", "config/config.yaml", "launcher.yaml"]
    result = snakemake(workdir, "-n", *profile, check=True)
    resources = {line.strip() for line in result.stdout.splitlines() if "gpus=" in line}
    assert resources and all("gpus=1, cpus=2, runtime=45," in line for line in resources), resources
    assert "--time-min 45 " in result.stdout
    override = snakemake(workdir, "-n", *profile, "--set-resources", "prune_round:runtime=30", check=True)
    assert "--time-min 30 " in override.stdout and "--time-min 45 " in override.stdout  # set-resources wins


def test_a_control_waits_for_the_round_of_the_method_it_follows(workdir):
    write_config(workdir, {"grid": {"methods": ["imp", "random", "reinit"], "rounds": 2}}, "c.yaml")
    result = snakemake(workdir, "-n", "--configfile", "config/config.yaml", "c.yaml", "--printshellcmds", check=True)
    jobs = result.stdout.split("rule prune_round:")[1:]
    random2 = next(j for j in jobs if "method=random, round=2" in j)
    assert re.search(r"input: .*/random/round1\.h5, .*/imp/round2\.h5", random2), random2
    followed = re.search(r"input: .*, (\S+/imp/round2\.h5)", random2).group(1)
    assert f"--reference {followed} " in random2, "the job reads the round the DAG waits for"
    imp2 = next(j for j in jobs if "method=imp, round=2" in j)
    assert "--reference" not in imp2


def test_lint_and_format_are_clean():
    lint = subprocess.run(
        [SNAKEMAKE, "--lint"], cwd=ROOT, capture_output=True, text=True, env=snakemake_env(), timeout=120
    )
    assert lint.returncode == 0 and "Congratulations" in lint.stdout + lint.stderr, lint.stdout + lint.stderr
    snakefmt = str(ROOT / ".venv/bin/snakefmt") if (ROOT / ".venv/bin/snakefmt").exists() else "snakefmt"
    fmt = subprocess.run(
        [snakefmt, "--check", "Snakefile", "workflow"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_generated_schema_and_reference_are_current():
    assert (ROOT / "workflow/schemas/config.schema.yaml").read_text() == schema_text()
    assert markdown_reference(Config) in (ROOT / "config/README.md").read_text()


@pytest.mark.slow
def test_tiny_run_end_to_end_with_report(workdir):
    snakemake(workdir, "--cores", "2", check=True, timeout=900)
    runs = sorted((workdir / "results/runs").rglob("*.h5"))
    assert len(runs) == 1 + 2 * 2
    for path in runs:
        data = read_round(path)
        assert data.attrs.epochs == 1  # read_round refuses a file without its completion marker
    accuracy = pd.read_csv(paths.table_file(workdir / "results", "accuracy", "csv"))
    assert sorted(accuracy["round"].unique()) == [0, 1, 2]
    assert set(accuracy["method"]) == {"imp", "timp"}
    assert np.allclose(accuracy.sort_values("round")["compression"].unique(), [1.0, 1.25, 1.5625], atol=1e-3)
    overlap = pd.read_csv(paths.table_file(workdir / "results", "overlap", "csv"))
    assert overlap["overlap"].between(0, 1).all() and overlap["bound"].notna().all()
    eta = pd.read_csv(paths.table_file(workdir / "results", "eta_tau", "csv"))
    ours = eta[(eta["arch"] == "fcn") & (eta["dataset"] == "mnist-5k")]
    assert ours.loc[ours["layer"] == "final", "paper_eta_tau"].round(5).tolist() == [66.77852]
    assert ours["params_counted_on"].unique().tolist() == ["trained dense weights (1 trial)"]
    assert len(eta[["arch", "dataset"]].drop_duplicates()) == 9  # the paper's eight pairs and this one
    figures = [Path(paths.figure_file(workdir / "results", "fcn", "mnist-5k", name)) for name in registry.figures()]
    for png in figures:
        assert png.read_bytes()[:4] == b"\x89PNG"
    assert all(png.exists() for png in figures) and {"comparison", "tree_kept"} <= set(registry.figures())
    comparison = pd.read_csv(paths.table_file(workdir / "results", "comparison", "csv"))
    timp = comparison[(comparison["method"] == "timp") & (comparison["round"] > 0)]
    assert len(timp) == 2 and timp["vs_imp"].notna().all() and (timp["trials"] == 1).all()
    kept = pd.read_csv(paths.table_file(workdir / "results", "tree_kept", "csv"))
    assert (kept.loc[kept["method"] == "timp", "tree_kept"] == 1.0).all()
    report = snakemake(workdir, "--report", paths.report_file("results"), check=True, timeout=300)
    assert report.returncode == 0 and Path(paths.report_file(workdir / "results")).stat().st_size > 10_000


@pytest.mark.slow
def test_interrupted_workflow_leaves_no_corrupt_output_and_reruns(workdir):
    write_config(workdir, {**TINY, "training": {**TINY["training"], "epochs": 40, "track_np": False}})
    command = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--cores", "1"]
    proc = subprocess.Popen(
        command,
        cwd=workdir,
        env=snakemake_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while not list((workdir / "results/runs").rglob(paths.CHECKPOINT_NAME)):
        assert proc.poll() is None and time.monotonic() < deadline, "no round reached its first checkpoint"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=120)
    for path in (workdir / "results/runs").rglob("*.h5"):
        read_round(path)  # every file at a final name is complete
    assert not list((workdir / "results/runs").rglob("round0.h5"))

    snakemake(workdir, "--cores", "2", "--rerun-incomplete", check=True, timeout=900)
    runs = sorted((workdir / "results/runs").rglob("*.h5"))
    assert len(runs) == 5 and all(read_round(p).attrs.epochs == 40 for p in runs)  # each complete and readable
    assert read_round(next(p for p in runs if p.name == "round0.h5")).attrs["resumed_from_epoch"] > 0
    assert not list((workdir / "results/runs").rglob(".*launch-*"))


def test_malformed_embedded_config_names_file_line_and_column(workdir):
    (workdir / "config/config.yaml").write_text("grid:\n  trials: 2\n   rounds: 3\n")
    result = snakemake(workdir, "-n")
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "config/config.yaml:3:10: invalid YAML: mapping values are not allowed here" in output
    assert "Traceback" not in output and not (workdir / "results").exists()


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"grid": None}, "config key 'grid' = None: expected a mapping"),
        ({"grid": {"methods": [], "rounds": 2}}, "config key 'grid.methods' = []: name at least one method"),
    ],
)
def test_silent_configs_are_refused_before_any_job(workdir, settings, message):
    write_config(workdir, {**TINY, **settings})
    result = snakemake(workdir, "-n")
    assert result.returncode != 0 and message in result.stdout + result.stderr
    assert not (workdir / "results").exists()
