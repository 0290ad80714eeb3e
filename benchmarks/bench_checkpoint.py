"""A checkpoint larger than what one weight needs, streamed (``analyze --checkpoint``), timed.

    python -m benchmarks.bench_checkpoint                  # TinyLlama-1.1B's shape, shards in a temporary directory
    python -m benchmarks.bench_checkpoint --dir /data/ckpt --keep --json bench.json
    python -m benchmarks.bench_checkpoint --layers 2       # a quick check of the same path (2 decoder layers)

**write** (its own process, not timed against anything): a LLaMA model of TinyLlama-1.1B's shape
(hidden 2048, 22 layers, intermediate 5632, vocabulary 32,000, 32 heads, 4 key/value heads,
untied embeddings) is built on the meta device for its ``state_dict`` names and shapes, then
every tensor is drawn (seeded; matrices normal with std 0.02, vectors ones) in bfloat16 and
written shard by shard as Hugging Face lays them out (``model-0000i-of-0000N.safetensors`` of at
most ``--shard-mb`` MB each and ``model.safetensors.index.json``): the whole model is never in
memory, one shard is.

Then, each in a fresh process of its own (peak RSS is that process's ``VmHWM``, its high-water
mark; the wall time is the parent's, from the process's start to its exit, imports included):

- **streaming**: ``python -m pipeline analyze --model transformers:llama --model-arg ... --checkpoint
  DIR --format csv --null-draws 0 --no-progress``: the model on the meta device, every linear
  weight read on its own from its shard (bfloat16 to float32). The process runs the CLI's own
  ``main`` with two timers around it: the seconds spent reading and converting weights
  (``Stored.values``) and the seconds in ``pipeline.analysis.analyze`` (reads included). The
  CSV must hold one row per linear weight: 7 per decoder layer and ``lm_head`` (155 for 22 layers).
- **baseline, the whole model in memory**: the same configuration built for real in float32
  (``pipeline.models.hub.build_transformers``, random initialisation included), every shard read
  whole (``safetensors.torch.load_file``) into one state dict, ``model.load_state_dict``, then
  ``pipeline.analysis.analyze(model, torch.zeros(1, 32, dtype=torch.long), null_draws=0)``.
  Its per-graph rows must equal the streamed ones (same layer names, same ``eta_tau`` and ``np``).

Both processes first time one call of the analysis on a tiny layer: numba's first call (its
disk cache loaded, or its compilation when the cache is cold), reported apart.

**7B, extrapolated** (no 7B checkpoint is written): in another process, after the tiny warm-up,
one decoder layer's seven matrices at LLaMA-7B's shapes (hidden 4096, intermediate 11008, 32
key/value heads) and ``lm_head`` (32000x4096), random float32, each through exactly what
``analyze`` does per graph (``DenseLayer``, ``layer_persistence``, ``summarize`` with
``layer_null(..., 0, 0)``). The estimate is 32 x layer + lm_head, plus the streamed run's read
seconds per byte times 7B's bfloat16 linear-weight bytes. The shards are read from the page cache
(they were just written), not from a cold disk. Prints Markdown for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TINYLLAMA = {
    "hidden_size": 2048,
    "num_hidden_layers": 22,
    "intermediate_size": 5632,
    "vocab_size": 32000,
    "num_attention_heads": 32,
    "num_key_value_heads": 4,
    "tie_word_embeddings": False,
}
LLAMA_7B = {
    "hidden_size": 4096,
    "num_hidden_layers": 32,
    "intermediate_size": 11008,
    "vocab_size": 32000,
    "num_attention_heads": 32,
    "num_key_value_heads": 32,
}
LINEAR_PER_LAYER = 7  # q, k, v, o, gate, up, down
SHARD_MB = 1000
TOKENS = 32
TARGET_SECONDS = 90.0
TARGET_RSS_MIB = 3 * 1024
SEED = 0


def _hwm_mib() -> float:
    """This process's peak resident set (``VmHWM``: since its ``exec``, not inherited)."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


def _machine() -> str:
    """As ``benchmarks.bench_topology.machine`` (not imported: the parent stays small)."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError, StopIteration), open("/proc/cpuinfo") as f:
        cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    with open("/proc/meminfo") as f:
        mem = int(next(line.split()[1] for line in f if line.startswith("MemTotal"))) / 1024**2
    return f"{cpu}, {os.cpu_count()} cores, {mem:.1f} GiB, Python {platform.python_version()}"


def _config(layers: int) -> dict:
    return TINYLLAMA | {"num_hidden_layers": layers}


def _model_args(config: dict) -> list[str]:
    """``--model-arg`` for every configuration key (YAML values: ``false``, not ``False``)."""
    return [a for k, v in config.items() for a in ("--model-arg", f"{k}={json.dumps(v)}")]


def cli_arguments(config: dict, directory: Path, output: Path) -> list[str]:
    """The ``python -m pipeline`` arguments of the streamed run."""
    return [
        "analyze",
        "--model",
        "transformers:llama",
        *_model_args(config),
        "--checkpoint",
        str(directory),
        "--format",
        "csv",
        "--output",
        str(output),
        "--null-draws",
        "0",
        "--no-progress",
    ]


def _warm_up() -> float:
    """One tiny graph through what ``analyze`` does per graph: numba's first call, in seconds."""
    import numpy as np

    from pipeline.topology import PAPER
    from pipeline.topology.diagram import layer_persistence
    from pipeline.topology.graphs import DenseLayer
    from pipeline.topology.null import layer_null
    from pipeline.topology.summary import summarize

    start = time.perf_counter()
    r = layer_persistence(DenseLayer("warm-up", np.random.default_rng(0).random((8, 4), dtype=np.float32)), PAPER)
    summarize(r, layer_null(r, PAPER, 0, 0))
    return time.perf_counter() - start


# ---------------------------------------------------------------- children (one process each)


def write_shards(config: dict, directory: Path, shard_mb: int) -> dict:
    """The model's ``state_dict`` as sharded bfloat16 safetensors with an index; one shard in memory."""
    import torch
    from safetensors.torch import save_file

    from pipeline.models.hub import build_transformers

    start = time.perf_counter()
    with torch.device("meta"):
        model = build_transformers("llama", **config)
    shapes = {name: tuple(t.shape) for name, t in model.state_dict().items()}
    del model
    limit = shard_mb * 10**6
    shards: list[list[str]] = [[]]
    size = 0
    for name, shape in shapes.items():
        nbytes = 2 * int(torch.Size(shape).numel())
        if shards[-1] and size + nbytes > limit:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    directory.mkdir(parents=True, exist_ok=True)
    generator = torch.Generator().manual_seed(SEED)
    weight_map, total = {}, 0
    for i, names in enumerate(shards, 1):
        file = f"model-{i:05d}-of-{len(shards):05d}.safetensors"
        tensors = {}
        for name in names:
            if len(shapes[name]) == 1:  # the norms' scales
                tensors[name] = torch.ones(shapes[name], dtype=torch.bfloat16)
            else:
                tensors[name] = (torch.randn(shapes[name], generator=generator) * 0.02).to(torch.bfloat16)
            total += tensors[name].numel() * 2
            weight_map[name] = file
        save_file(tensors, directory / file, metadata={"format": "pt"})
        del tensors
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    return {
        "seconds": time.perf_counter() - start,
        "bytes": total,
        "tensors": len(shapes),
        "shards": len(shards),
        "parameters": total // 2,
        "peak_rss_mib": _hwm_mib(),
    }


def streamed(argv: list[str]) -> dict:
    """The CLI's ``main`` on ``argv``, with timers around weight reads and the analysis."""
    started = time.perf_counter()
    import pipeline.analysis
    from pipeline.cli import checkpoint
    from pipeline.cli.commands import main

    imported = time.perf_counter()
    warm = _warm_up()
    reads = {"seconds": 0.0, "bytes": 0, "count": 0}
    analysis = {"seconds": 0.0}
    values = checkpoint.Stored.values

    def timed_values(self):
        read = values(self)

        def value(name):
            start = time.perf_counter()
            out = read(name)
            reads["seconds"] += time.perf_counter() - start
            reads["bytes"] += out.size * 2  # as stored: bfloat16
            reads["count"] += 1
            return out

        return value

    analyze = pipeline.analysis.analyze

    def timed_analyze(*args, **kwargs):
        start = time.perf_counter()
        try:
            return analyze(*args, **kwargs)
        finally:
            analysis["seconds"] += time.perf_counter() - start

    checkpoint.Stored.values = timed_values
    pipeline.analysis.analyze = timed_analyze  # the CLI imports it when it runs
    code = main(argv)
    done = time.perf_counter()
    return {
        "code": code,
        "imports_s": imported - started,
        "warm_up_s": warm,
        "analyze_s": analysis["seconds"],
        "read_s": reads["seconds"],
        "read_bytes": reads["bytes"],
        "reads": reads["count"],
        "main_s": done - imported - warm,
        "peak_rss_mib": _hwm_mib(),
    }


def whole(config: dict, directory: Path, output: Path) -> dict:
    """The baseline: the model built in float32, every shard loaded whole, then ``analyze``."""
    started = time.perf_counter()
    import torch
    from safetensors.torch import load_file

    from pipeline.analysis import analyze
    from pipeline.models.hub import build_transformers
    from pipeline.report.formats import render

    imported = time.perf_counter()
    warm = _warm_up()
    t0 = time.perf_counter()
    torch.manual_seed(SEED)
    model = build_transformers("llama", **config)
    t1 = time.perf_counter()
    state = {}
    for file in sorted(directory.glob("*.safetensors")):
        state.update(load_file(file))
    model.load_state_dict(state)
    del state
    t2 = time.perf_counter()
    result = analyze(model, torch.zeros(1, TOKENS, dtype=torch.long), null_draws=0)
    t3 = time.perf_counter()
    output.write_text(render(result.frame(), "csv"))
    return {
        "imports_s": imported - started,
        "warm_up_s": warm,
        "build_s": t1 - t0,
        "load_s": t2 - t1,
        "analyze_s": t3 - t2,
        "peak_rss_mib": _hwm_mib(),
    }


def seven_b() -> dict:
    """Per-graph seconds of one 7B decoder layer's matrices and lm_head, random float32."""
    import numpy as np

    from pipeline.topology import PAPER
    from pipeline.topology.diagram import layer_persistence
    from pipeline.topology.graphs import DenseLayer
    from pipeline.topology.null import layer_null
    from pipeline.topology.summary import summarize

    warm = _warm_up()
    h, i, v = LLAMA_7B["hidden_size"], LLAMA_7B["intermediate_size"], LLAMA_7B["vocab_size"]
    kv = h // LLAMA_7B["num_attention_heads"] * LLAMA_7B["num_key_value_heads"]
    shapes = {
        "q_proj": (h, h),
        "k_proj": (kv, h),
        "v_proj": (kv, h),
        "o_proj": (h, h),
        "gate_proj": (i, h),
        "up_proj": (i, h),
        "down_proj": (h, i),
        "lm_head": (v, h),
    }
    rng = np.random.default_rng(SEED)
    seconds = {}
    for name, shape in shapes.items():
        weight = rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)
        start = time.perf_counter()
        r = layer_persistence(DenseLayer(name, weight), PAPER)
        summarize(r, layer_null(r, PAPER, 0, 0))
        seconds[name] = time.perf_counter() - start
        del r, weight
    layer_bytes = 2 * sum(a * b for name, (a, b) in shapes.items() if name != "lm_head")
    return {
        "warm_up_s": warm,
        "seconds": seconds,
        "linear_bytes": LLAMA_7B["num_hidden_layers"] * layer_bytes + 2 * v * h,
        "peak_rss_mib": _hwm_mib(),
    }


# ---------------------------------------------------------------- the parent


def _child(args: list[str]) -> tuple[dict, float, str]:
    """A fresh process of this module; its JSON result, wall seconds and stderr."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_checkpoint", *args], capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"child {' '.join(args[:2])} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall, proc.stderr


def _graph_rows(path: Path) -> dict[str, dict[str, str]]:
    with path.open() as f:
        return {r["layer"]: r for r in csv.DictReader(f) if r["kind"] not in ("aggregate", "skipped", "network")}


def _same(a: str, b: str) -> bool:
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return abs(x - y) <= 1e-9 * max(abs(x), abs(y))


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="write the shards here (default: a temporary directory)")
    parser.add_argument("--keep", action="store_true", help="keep the shards (default: deleted at the end)")
    parser.add_argument("--layers", type=int, default=TINYLLAMA["num_hidden_layers"], help="decoder layers (22)")
    parser.add_argument("--shard-mb", type=int, default=SHARD_MB, help="largest shard, in MB (1000)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the whole-model baseline")
    parser.add_argument("--no-7b", action="store_true", help="skip the 7B extrapolation")
    parser.add_argument("--json", help="also write the raw results to this file")
    parser.add_argument("--child", choices=("write", "stream", "whole", "7b"), help=argparse.SUPPRESS)
    parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    config = _config(args.layers)
    if args.child == "write":
        print(json.dumps(write_shards(config, args.dir, args.shard_mb)))
        return
    if args.child == "stream":
        with contextlib.redirect_stdout(io.StringIO()):  # stdout carries the result line only
            result = streamed(args.rest[1:] if args.rest[:1] == ["--"] else args.rest)
        print(json.dumps(result))
        return
    if args.child == "whole":
        print(json.dumps(whole(config, args.dir, Path(args.rest[-1]))))
        return
    if args.child == "7b":
        print(json.dumps(seven_b()))
        return

    print(f"_{dt.date.today().isoformat()} — {_machine()}; load average {_load()} (1, 5, 15 min) before_\n")
    own = args.dir is None
    directory = Path(tempfile.mkdtemp(prefix="bench-checkpoint-")) if own else args.dir
    work = Path(tempfile.mkdtemp(prefix="bench-checkpoint-out-"))
    common = ["--layers", str(args.layers), "--dir", str(directory)]
    out: dict = {"config": config, "load_before": os.getloadavg()}
    try:
        out["write"], out["write_wall_s"], _ = _child(["--child", "write", *common, "--shard-mb", str(args.shard_mb)])
        w = out["write"]
        print(
            f"wrote {w['parameters'] / 1e9:.2f} G parameters, {w['bytes'] / 2**30:.2f} GiB of bfloat16 in "
            f"{w['shards']} shards ({w['tensors']} tensors) in {out['write_wall_s']:.0f} s "
            f"(peak RSS {w['peak_rss_mib']:.0f} MiB)\n",
            flush=True,
        )
        streamed_csv, whole_csv = work / "streamed.csv", work / "whole.csv"
        argv = cli_arguments(config, directory, streamed_csv)
        out["command"] = "python -m pipeline " + " ".join(argv)
        out["stream"], out["stream_wall_s"], stderr = _child(["--child", "stream", *common, "--", *argv])
        if out["stream"]["code"] != 0:
            sys.exit(f"analyze failed:\n{stderr[-4000:]}")
        out["stream_fell_back"] = "loading it whole" in stderr
        rows = _graph_rows(streamed_csv)
        expected = args.layers * LINEAR_PER_LAYER + 1
        assert len(rows) == expected, f"the streamed CSV has {len(rows)} graph rows, expected {expected}"
        assert not out["stream_fell_back"], f"analyze did not stream: {stderr}"
        if not args.no_baseline:
            out["whole"], out["whole_wall_s"], _ = _child(["--child", "whole", *common, "--", str(whole_csv)])
            theirs = _graph_rows(whole_csv)
            assert list(theirs) == list(rows), "the two runs name different graphs"
            for name, row in rows.items():
                for column in ("eta_tau", "np", "weights", "tree_edges"):
                    assert _same(row[column], theirs[name][column]), (
                        f"{name}.{column}: streamed {row[column]}, whole {theirs[name][column]}"
                    )
        if not args.no_7b:
            out["7b"], out["7b_wall_s"], _ = _child(["--child", "7b"])
        out["load_after"] = os.getloadavg()
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if args.keep:
            pass
        elif own:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            _remove_shards(directory)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)
    _report(out, args, len(rows))


def _remove_shards(directory: Path) -> None:
    for path in [*directory.glob("model-*-of-*.safetensors"), directory / "model.safetensors.index.json"]:
        path.unlink(missing_ok=True)


def _report(out: dict, args: argparse.Namespace, graphs: int) -> None:
    s = out["stream"]
    print(f"`{out['command']}`\n")
    print("| run | graphs | wall (process) | imports | numba first call | build + load | analyze | of which reading "
          "| peak RSS |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    rest = s["main_s"] - s["analyze_s"]
    print(
        f"| streaming (`analyze --checkpoint`) | {graphs} | {out['stream_wall_s']:.1f} s | {s['imports_s']:.1f} s "
        f"| {s['warm_up_s']:.2f} s | {rest:.1f} s (meta build, index, CSV) | {s['analyze_s']:.1f} s "
        f"| {s['read_s']:.1f} s ({s['reads']} reads, {s['read_bytes'] / 2**30:.2f} GiB) | {s['peak_rss_mib']:.0f} MiB |"
    )
    if "whole" in out:
        b = out["whole"]
        print(
            f"| whole model in memory (float32) | {graphs} | {out['whole_wall_s']:.1f} s | {b['imports_s']:.1f} s "
            f"| {b['warm_up_s']:.2f} s | {b['build_s']:.1f} s + {b['load_s']:.1f} s | {b['analyze_s']:.1f} s | — "
            f"| {b['peak_rss_mib']:.0f} MiB |"
        )
        print(
            f"\nwhole / streaming: wall {out['whole_wall_s'] / out['stream_wall_s']:.2f}x, "
            f"peak RSS {b['peak_rss_mib'] / s['peak_rss_mib']:.2f}x; the {graphs} graphs' eta_tau, np, weights and "
            "tree_edges are the same in both CSVs"
        )
    per_byte = s["read_s"] / s["read_bytes"]
    print(f"\nreading: {s['read_bytes'] / s['read_s'] / 2**20:.0f} MiB/s of bfloat16 (read and converted to float32)")
    if "7b" in out:
        e = out["7b"]
        sec = e["seconds"]
        layer = sum(v for k, v in sec.items() if k != "lm_head")
        n_layers = LLAMA_7B["num_hidden_layers"]
        analysis = n_layers * layer + sec["lm_head"]
        reading = per_byte * e["linear_bytes"]
        print("\n**7B, extrapolated** (not run): one decoder layer's graphs at LLaMA-7B's shapes, measured:\n")
        print("| " + " | ".join(sec) + " | one layer |")
        print("|" + "---|" * (len(sec) + 1))
        print("| " + " | ".join(f"{v:.2f} s" for v in sec.values()) + f" | {layer:.2f} s |")
        print(
            f"\nextrapolation: {n_layers} x {layer:.2f} s + lm_head {sec['lm_head']:.2f} s = {analysis:.0f} s of "
            f"analysis, + {e['linear_bytes'] / 2**30:.1f} GiB of bfloat16 linear weights at the streamed run's "
            f"{per_byte * 2**30:.2f} s/GiB = {reading:.0f} s of reading: about {analysis + reading:.0f} s "
            f"(+ imports and the meta build, {out['stream_wall_s'] - s['analyze_s']:.0f} s in the streamed run); "
            f"peak RSS of the process analysing the 7B lm_head alone (131 M weights): {e['peak_rss_mib']:.0f} MiB"
        )
    wall_ok = out["stream_wall_s"] <= TARGET_SECONDS
    rss_ok = s["peak_rss_mib"] <= TARGET_RSS_MIB
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in out['load_after'])}")
    print(f"\ntargets (issue 22), {graphs} linear weights streamed on {os.cpu_count()} cores:")
    print(f"- wall ≤ {TARGET_SECONDS:.0f} s: {'met' if wall_ok else 'NOT met'} ({out['stream_wall_s']:.1f} s)")
    print(f"- peak RSS ≤ 3 GiB: {'met' if rss_ok else 'NOT met'} ({s['peak_rss_mib']:.0f} MiB)")


if __name__ == "__main__":
    main()
