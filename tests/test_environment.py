"""envs/pipeline.yaml (the conda environment of `snakemake --sdm conda`) and pyproject.toml name
the same packages with the same version bounds, so a conda job runs what `pip install` runs."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
CONDA_ONLY = {"python", "pip"}  # the environment's own interpreter and installer


def pyproject_bounds() -> dict[str, SpecifierSet]:
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return {canonicalize_name(r.name): r.specifier for r in map(Requirement, dependencies)}


def environment_bounds() -> dict[str, SpecifierSet]:
    """Conda entries ("numpy >=1.26") and the pip section's PEP 508 requirements, by package."""
    bounds = {}
    for entry in yaml.safe_load((ROOT / "envs/pipeline.yaml").read_text())["dependencies"]:
        if isinstance(entry, dict):
            for requirement in map(Requirement, entry["pip"]):
                bounds[canonicalize_name(requirement.name)] = requirement.specifier
            continue
        name, spec = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(.*)", entry).groups()
        if name not in CONDA_ONLY:
            bounds[canonicalize_name(name)] = SpecifierSet(spec.replace(" ", ""))
    return bounds


def test_the_conda_environment_pins_what_pyproject_pins():
    pyproject, environment = pyproject_bounds(), environment_bounds()
    assert sorted(pyproject) == sorted(environment), "the same packages in both files"
    differing = {name: (str(pyproject[name]), str(environment[name])) for name in pyproject}
    differing = {name: pair for name, pair in differing.items() if pyproject[name] != environment[name]}
    assert not differing, f"version bounds (pyproject.toml, envs/pipeline.yaml) differ: {differing}"
    assert environment["submitit"] == SpecifierSet(">=1.5,<1.6")
