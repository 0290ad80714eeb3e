"""``python -m pipeline analyze`` on the models people prune: timm without an input shape,
Hugging Face models from configurations read from safetensors checkpoints (sharded, bf16, tied
weights stored once), ``--seed``, and the count of exact zeros read as pruned weights."""

import importlib
import io
import json
import re
import uuid
from pathlib import Path

import pandas as pd
import pytest
import torch
from torch import nn

from pipeline.cli import main

LLAMA = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "intermediate_size": 64,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "vocab_size": 50,
    "bos_token_id": 0,
    "eos_token_id": 0,
}
GPT2 = {
    "n_layer": 2,
    "n_embd": 32,
    "n_head": 2,
    "vocab_size": 50,
    "n_positions": 16,
    "bos_token_id": 0,
    "eos_token_id": 0,
}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """The CLI in-process, no progress bar, no permutation null unless asked."""
    null = () if "--null-draws" in argv else ("--null-draws", "0")
    code = main(["analyze", "--no-progress", *null, *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _frame(out: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(out))


def _model_args(config: dict) -> list[str]:
    return [a for k, v in config.items() for a in ("--model-arg", f"{k}={v}")]


def _factory(tmp_path: Path, source: str) -> str:
    """A user's module written to ``tmp_path`` (the working directory): its MODULE:build."""
    name = f"factory_{uuid.uuid4().hex}"
    (tmp_path / f"{name}.py").write_text(source)
    importlib.invalidate_caches()
    return f"{name}:build"


def _weights_factory(tmp_path: Path, cls: str, config: dict, state: dict[str, torch.Tensor]) -> str:
    """A factory that builds ``transformers.<cls>`` from ``config`` and loads ``state`` (float32)."""
    path = tmp_path / f"state_{uuid.uuid4().hex}.pt"
    torch.save({k: v.to(torch.float32) for k, v in state.items()}, path)
    return _factory(
        tmp_path,
        "import torch, transformers\n"
        "def build():\n"
        f"    model = transformers.{cls}(transformers.{cls}.config_class(**{config!r}))\n"
        f"    model.load_state_dict(torch.load({str(path)!r}))\n"
        "    return model\n",
    )


def _tiny_llama():
    transformers = pytest.importorskip("transformers", reason="LLaMA needs the optional transformers extra")
    torch.manual_seed(11)  # not the CLI's seed: what the table shows must come from the file
    model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**LLAMA))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # norms away from 1: every tensor distinct
    return model


def _header(err: str) -> str:
    (line,) = [line for line in err.splitlines() if re.match(r"# .*, input \(", line)]
    return line


# ---------------------------------------------------------------- 5. timm without --input-shape


def test_a_timm_model_takes_its_input_shape_from_its_pretrained_cfg(capsys):
    timm = pytest.importorskip("timm", reason="timm is an optional extra")
    model = timm.create_model("test_resnet")
    expected = tuple(model.pretrained_cfg["input_size"])
    assert expected != (3, 224, 224)  # not torchvision's default: the shape must come from the config
    code, out, err = run(
        capsys, "--model", "timm:create_model", "--model-arg", "model_name=test_resnet", "--format", "csv"
    )
    assert code == 0, err
    assert f"input {(1, *expected)}" in _header(err)
    frame = _frame(out)
    convs = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    linears = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Linear)}
    assert set(frame[frame["kind"] == "conv"]["layer"]) == convs
    assert set(frame[frame["kind"] == "linear"]["layer"]) == linears


# ---------------------------------------------------------------- 6. safetensors checkpoints


def _llama_cli(capsys, checkpoint: Path | None, *extra: str) -> tuple[int, str, str]:
    source = ("--model", "transformers:llama", *_model_args(LLAMA))
    ckpt = ("--checkpoint", str(checkpoint)) if checkpoint is not None else ()
    return run(capsys, *source, *ckpt, "--format", "csv", "--null-draws", "2", *extra)


def _write_shards(state: dict[str, torch.Tensor], directory: Path, shards: int) -> None:
    from safetensors.torch import save_file

    directory.mkdir()
    names = list(state)
    weight_map = {}
    for s in range(shards):
        part = names[s::shards]
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        save_file({k: state[k].contiguous() for k in part}, str(directory / file))
        weight_map.update(dict.fromkeys(part, file))
    total = sum(t.numel() * t.element_size() for t in state.values())
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_a_sharded_safetensors_llama_gives_the_table_of_the_model_in_memory(capsys, tmp_path, monkeypatch, dtype):
    pytest.importorskip("safetensors", reason="safetensors is an optional extra")
    monkeypatch.chdir(tmp_path)
    state = {k: v.to(dtype) for k, v in _tiny_llama().state_dict().items()}
    _write_shards(state, tmp_path / "shards", 3)
    assert len(list((tmp_path / "shards").glob("*.safetensors"))) == 3
    code, streamed, err = _llama_cli(capsys, tmp_path / "shards")
    assert code == 0, err
    assert "does not run on the meta device" not in err  # read one tensor at a time, as promised
    factory = _weights_factory(tmp_path, "LlamaForCausalLM", LLAMA, state)
    code, in_memory, err = run(capsys, "--model", factory, "--format", "csv", "--null-draws", "2")
    assert code == 0, err
    a, b = _frame(streamed), _frame(in_memory)
    assert len(a[a["kind"] == "linear"]) == 2 * 7 + 1
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    code, own, err = _llama_cli(capsys, None)  # the configuration's own random weights
    assert code == 0, err
    assert not _frame(own)["np"].equals(a["np"])


def test_a_single_safetensors_file_and_a_missing_tensor(capsys, tmp_path, monkeypatch):
    pytest.importorskip("safetensors", reason="safetensors is an optional extra")
    from safetensors.torch import save_file

    monkeypatch.chdir(tmp_path)
    state = _tiny_llama().state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "model.safetensors"))
    code, streamed, err = _llama_cli(capsys, tmp_path / "model.safetensors")
    assert code == 0, err
    factory = _weights_factory(tmp_path, "LlamaForCausalLM", LLAMA, state)
    code, in_memory, err = run(capsys, "--model", factory, "--format", "csv", "--null-draws", "2")
    assert code == 0, err
    pd.testing.assert_frame_equal(_frame(streamed), _frame(in_memory), check_exact=True)

    missing = "model.layers.1.mlp.down_proj.weight"
    save_file({k: v.contiguous() for k, v in state.items() if k != missing}, str(tmp_path / "partial.safetensors"))
    code, out, err = _llama_cli(capsys, tmp_path / "partial.safetensors")
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert missing in err and "missing" in err and "Traceback" not in err


def test_a_gpt2_checkpoint_without_its_tied_lm_head_is_read(capsys, tmp_path, monkeypatch):
    transformers = pytest.importorskip("transformers", reason="GPT-2 needs the optional transformers extra")
    pytest.importorskip("safetensors", reason="safetensors is an optional extra")
    from safetensors.torch import save_file

    monkeypatch.chdir(tmp_path)
    torch.manual_seed(12)
    model = transformers.GPT2LMHeadModel(transformers.GPT2Config(**GPT2))
    state = model.state_dict()
    assert torch.equal(state["lm_head.weight"], state["transformer.wte.weight"])
    stored = {k: v.contiguous() for k, v in state.items() if k != "lm_head.weight"}  # as Hugging Face saves it
    save_file(stored, str(tmp_path / "model.safetensors"))
    source = ("--model", "transformers:gpt2", *_model_args(GPT2))
    code, streamed, err = run(capsys, *source, "--checkpoint", str(tmp_path / "model.safetensors"), "--format", "csv")
    assert code == 0, err
    factory = _weights_factory(tmp_path, "GPT2LMHeadModel", GPT2, state)
    code, in_memory, err = run(capsys, "--model", factory, "--format", "csv")
    assert code == 0, err
    frame = _frame(streamed)
    assert "lm_head.weight" in set(frame[frame["kind"] == "linear"]["layer"])
    pd.testing.assert_frame_equal(frame, _frame(in_memory), check_exact=True)


# ---------------------------------------------------------------- 7. --seed


def test_the_seed_makes_random_weights_repeatable_and_is_in_the_header(capsys):
    base = ("--torchvision", "resnet18", "--input-shape", "3,16,16", "--format", "csv")
    code, first, err_first = run(capsys, *base)
    assert code == 0, err_first
    code, second, err_second = run(capsys, *base)
    assert code == 0, err_second
    code, other, err_other = run(capsys, *base, "--seed", "1")
    assert code == 0, err_other
    assert first == second
    a, c = _frame(first), _frame(other)
    graphs = a["kind"] == "conv"
    assert graphs.sum() == 20 and a[graphs]["weights"].equals(c[graphs]["weights"])  # same model, other weights
    assert not a[graphs]["np"].equals(c[graphs]["np"])
    assert (a[graphs]["w_max"] != c[graphs]["w_max"]).all()
    assert "seed 0" in _header(err_first) and "seed 1" in _header(err_other)


# ---------------------------------------------------------------- 8. exact zeros in the header


ZEROS = """
import torch
from torch import nn

def build():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    with torch.no_grad():
        model[{layer}].weight.view(-1)[[0, 5, 7]] = 0
        model[0].bias.zero_()  # zeros of a bias are no edges
        model[2].bias.zero_()
    return model
"""


@pytest.mark.parametrize("layer", [0, 2], ids=["conv-kernel", "linear"])
def test_the_header_counts_the_exact_zeros_read_as_pruned_weights(capsys, tmp_path, monkeypatch, layer):
    monkeypatch.chdir(tmp_path)
    factory = _factory(tmp_path, ZEROS.format(layer=layer))
    code, out, err = run(capsys, "--model", factory, "--input-shape", "2,6,6", "--format", "csv")
    assert code == 0, err
    assert "exact zeros read as pruned weights (absent edges): 3 " in err, err
    frame = _frame(out).set_index("layer")
    if layer == 2:
        assert frame.loc["2.weight", "weights"] == 64 * 3 - 3
    else:
        assert frame.loc["0.weight", "params"] == 2 * 4 * 9 - 3
    code, _, err = run(capsys, "--model", factory, "--input-shape", "2,6,6", "--format", "csv", "--zeros", "weights")
    assert code == 0 and "exact zeros read as weights" in err
