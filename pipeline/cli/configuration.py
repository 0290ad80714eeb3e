"""Verbs on configurations: ``check`` a file, print the ``schema``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from pipeline.config import json_schema, load_config, markdown_reference, run_spec, to_dict

SCHEMA_HEADER = "# Generated from pipeline/config.py by `python -m pipeline schema`; do not edit.\n"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    check = subparsers.add_parser(
        "check",
        help="validate a configuration file and print it resolved, with each pair's run hash",
        description="Validates like the workflow does before any job starts; exit status 2 names the bad key.",
    )
    check.add_argument("config", type=Path)
    check.set_defaults(func=run_check)
    schema = subparsers.add_parser("schema", help="print the JSON schema of the configuration (YAML)")
    schema.add_argument("--markdown", action="store_true", help="print the key reference of config/README.md instead")
    schema.set_defaults(func=run_schema)


def schema_text() -> str:
    return SCHEMA_HEADER + yaml.safe_dump(json_schema(), sort_keys=False, allow_unicode=True)


def run_schema(args: argparse.Namespace) -> None:
    sys.stdout.write(markdown_reference() if args.markdown else schema_text())


def run_check(args: argparse.Namespace) -> None:
    config = load_config(args.config)
    sys.stdout.write(yaml.safe_dump(to_dict(config), sort_keys=False))
    for pair in config.grid.pairs:
        arch, dataset = pair.split("/")
        print(f"# {pair}: run hash {run_spec(config, arch, dataset, 0).run_hash}")
