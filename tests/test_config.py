import pytest

from pipeline.config import load_config
from pipeline.fields import ConfigError
from pipeline.runs import run_spec


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"grid": {"pairs": ["resnet18/svhn"]}}, "'grid.pairs[0]' = 'resnet18/svhn': allowed values are"),
        ({"grid": {"pairs": ["tv:resnet5000/cifar10"]}}, "'grid.pairs[0]' = 'tv:resnet5000/cifar10': no torchvision"),
        ({"grid": {"pairs": ["tv:resnet18/svhn"]}}, "or a match of tv:[a-z0-9_]+/(cifar10|"),
        (
            {"grid": {"pairs": ["tv:vit_b_16/mnist-5k"]}},
            "'tv:vit_b_16/mnist-5k': tv:vit_b_16 cannot run on mnist-5k's 1x28x28 images: Input shape indivisible",
        ),
        ({"recipes": {"tv:resnt18": {"lr": 0.1}}}, "'recipes.tv:resnt18': no torchvision classifier 'resnt18'"),
        ({"grid": {"methods": ["grasp"]}}, "'grid.methods[0]' = 'grasp': allowed values are ['gtimp', 'imp',"),
        (
            {"grid": {"pairs": ["tv:vit_b_16/cifar10"], "methods": ["gtimp"]}},
            "'tv:vit_b_16/cifar10': 'gtimp' needs the whole network's graph: node cat: concatenation with a constant",
        ),
        ({"grid": {"trials": 0}}, "'grid.trials' = 0: must be >= 1"),
        ({"pruning": {"rate": 1.5}}, "'pruning.rate' = 1.5: must be < 1"),
        ({"pruning": {"rewind": "epoch"}}, "'pruning.rewind' = 'epoch': must match"),
        ({"pruning": {"rewind": "epoch:50"}}, "pair fcn/mnist-5k trains only 10 epochs"),
        (
            {"pruning": {"rewind": "step:400"}},
            "'pruning.rewind' = 'step:400': pair fcn/mnist-5k trains only 10 epochs of 32 steps",
        ),
        ({"pruning": {"rates": {"output": 1.0}}}, "'pruning.rates.output' = 1.0: must be a number > 0 and < 1"),
        (
            {"pruning": {"rates": {"dense": 0.1}}},
            "'pruning.rates.dense': unknown key; allowed keys are ['output', 'linear', 'recurrent', 'conv']",
        ),
        ({"pruning": {"rates": {"conv": 0.1}, "schedule": "linear"}}, "needs pruning.schedule: geometric"),
        (
            {"pruning": {"rates": {"output": 0.1}, "prune_output": False}},
            "'pruning.rates.output': the classifier is not pruned",
        ),
        (
            {"data": {"train_subset": 5000}},
            "'data.train_subset' = 5000: mnist-5k has 4000 training images and 10 classes",
        ),
        ({"data": {"test_subset": 3}}, "'data.test_subset' = 3: mnist-5k has 10 classes"),
        (
            {"grid": {"methods": ["timp", "random"]}},
            "'grid.methods' = ['timp', 'random']: 'random' reads 'imp''s masks",
        ),
        ({"seed": 2**31}, "'seed' = 2147483648: must be <= 1073741824"),
        (
            {"training": {"optimizer": "rmsprop"}},
            "'training.optimizer' = 'rmsprop': allowed values are ['sgd', 'adam']",
        ),
        ({"training": {"epochs": "ten"}}, "'training.epochs' = 'ten': expected an integer"),
        ({"training": {"milestones": [5, 20]}}, "milestones must lie between 1 and epochs - 1"),
        ({"trainng": {}}, "'trainng': unknown key; allowed keys are"),
        ({None: {"draws": 5}}, "'null (YAML reads a bare null, ~ or empty key as no name)': unknown key"),
        ({"nulls": {"draws": -1}}, "'nulls.draws' = -1: must be >= 0"),
        ({"recipes": {"fcn": {"lrr": 1}}}, "'recipes.fcn.lrr': unknown key"),
        ({"recipes": {"resnet50": {}}}, "'recipes.resnet50': unknown key; allowed keys are"),
        (
            {"launcher": {"backend": "pbs"}},
            "'launcher.backend' = 'pbs': allowed values are ['inline', 'local', 'slurm']",
        ),
        ({"topology": {"w_max": "network"}}, "'topology.w_max' = 'network': allowed values are ['layer', 'global']"),
    ],
)
def test_bad_configs_name_the_key_and_the_allowed_values(override, message):
    with pytest.raises(ConfigError) as info:
        load_config(override)
    assert message in str(info.value)


def test_torchvision_classifiers_are_architectures_of_the_grid():
    config = load_config(
        {"grid": {"pairs": ["tv:resnet18/cifar10", "fcn/mnist-5k"]}, "recipes": {"tv:resnet18": {"lr": 0.02}}}
    )
    assert config.recipe("tv:resnet18", "cifar10").lr == 0.02
    assert run_spec(config, "tv:resnet18", "cifar10", 0).run_hash != run_spec(config, "fcn", "cifar10", 0).run_hash


def test_recipes_override_defaults_per_architecture_then_pair():
    config = load_config({"training": {"lr": 0.1}, "recipes": {"fcn": {"lr": 0.05}, "fcn/mnist": {"epochs": 3}}})
    assert config.recipe("fcn", "mnist").lr == 0.05 and config.recipe("fcn", "mnist").epochs == 3
    assert config.recipe("fcn", "mnist-5k").epochs == 10 and config.recipe("conv", "mnist").lr == 0.1


def test_run_hash_is_pinned_and_ignores_placement():
    """Renaming a run by accident (a changed hash) must fail here; update deliberately."""
    base = run_spec(load_config({}), "fcn", "mnist-5k", 0)
    assert base.run_hash == "29dbe5286a"
    moved = run_spec(load_config({"data": {"root": "/elsewhere", "download": True}}), "fcn", "mnist-5k", 1)
    assert moved.run_hash == base.run_hash
    changed = run_spec(load_config({"training": {"lr": 0.05}}), "fcn", "mnist-5k", 0)
    assert changed.run_hash != base.run_hash


def test_empty_methods_need_zero_rounds():
    with pytest.raises(ConfigError, match=r"'grid.methods' = \[\]: name at least one method .*rounds: 0"):
        load_config({"grid": {"methods": [], "rounds": 2}})
    assert load_config({"grid": {"methods": [], "rounds": 0}}).grid.methods == ()


@pytest.mark.parametrize("section", ["grid", "training", "pruning", "topology", "launcher", "data"])
def test_a_null_section_is_refused_by_name(section):
    with pytest.raises(ConfigError, match=rf"'{section}' = None: expected a mapping"):
        load_config({section: None})


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("grid:\n  pairs: [fcn/mnist-5k\n  trials: 2\n", ":3:9:"),
        ("grid:\n  trials: 2\n   rounds: 3\n", ":3:10:"),
        ("grid: {trials: 2\n", ":2:1:"),
        ("\tgrid: 1\n", ":1:1:"),
    ],
)
def test_malformed_yaml_names_file_line_and_column(tmp_path, text, where):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}{where} invalid YAML: ") and "\n" not in message
