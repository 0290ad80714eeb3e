import argparse

import pytest

from pipeline.cli.keys import add_key_arguments, key_from_args
from pipeline.store import RoundKey, round_file


def test_a_round_key_names_its_files_and_the_round_it_continues():
    key = RoundKey("fcn", "mnist-5k", "0123456789", 2, 3, "timp")
    assert key.file("res") == round_file("res", "fcn", "mnist-5k", "0123456789", 2, "timp", 3)
    assert key.previous == RoundKey("fcn", "mnist-5k", "0123456789", 2, 2, "timp")
    first = RoundKey("fcn", "mnist-5k", "0123456789", 2, 1, "imp")
    assert first.previous == RoundKey("fcn", "mnist-5k", "0123456789", 2, 0)
    assert first.previous.file("res").name == "round0.h5" and first.previous.previous is None
    assert first.previous.label == "dense" and key.name == "fcn-mnist-5k-0123456789-t2-timp-r3"


def test_round_zero_belongs_to_no_method_and_methods_share_seeds():
    with pytest.raises(ValueError, match="round 0 has no method"):
        RoundKey("fcn", "mnist-5k", "0123456789", 0, 0, "imp")
    with pytest.raises(ValueError, match="rounds >= 1 need one"):
        RoundKey("fcn", "mnist-5k", "0123456789", 0, 1)
    imp, timp = (RoundKey("fcn", "mnist-5k", "0123456789", 1, 2, m) for m in ("imp", "timp"))
    assert imp.data_seed(7) == timp.data_seed(7) != RoundKey("fcn", "mnist-5k", "0123456789", 1, 1, "imp").data_seed(7)
    assert imp.prune_seed(7) == timp.prune_seed(7)


@pytest.mark.parametrize(
    "key", [RoundKey("conv", "cifar10", "abcdef0123", 4, 0), RoundKey("fcn", "mnist", "abcdef0123", 0, 5, "imp")]
)
def test_a_round_key_round_trips_through_its_command_line(key):
    parser = argparse.ArgumentParser()
    add_key_arguments(parser)
    assert key_from_args(parser.parse_args(key.to_args())) == key
    assert (
        RoundKey.from_wildcards(
            {
                "arch": key.arch,
                "dataset": key.dataset,
                "run_hash": key.run_hash,
                "trial": str(key.trial),
                **({"round": str(key.round), "method": key.method} if key.method else {}),
            }
        )
        == key
    )


def test_a_torchvision_architecture_has_no_colon_in_its_paths_and_reads_back_from_them():
    key = RoundKey("tv:resnet18", "cifar10", "abcdef0123", 0, 1, "imp")
    path = key.file("results")
    assert ":" not in str(path) and path.parts[2] == "tv-resnet18"
    fields = {"arch": path.parts[2], "dataset": "cifar10", "run_hash": "abcdef0123", "trial": "0", "round": "1"}
    assert RoundKey.from_wildcards({**fields, "method": "imp"}) == key
    assert (
        RoundKey.from_wildcards(
            {"arch": "fcn", **{k: v for k, v in fields.items() if k != "arch"}, "method": "imp"}
        ).arch
        == "fcn"
    )
