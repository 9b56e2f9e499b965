"""Training options, schedules and the training-state file (no pickle, exact round trip)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from fav_core.errors import ConfigError, InputError
from training.checkpoints import (
    TrainState,
    flatten_optimizer,
    load_state,
    save_state,
    state_iteration,
    unflatten_optimizer,
)
from training.config import (
    TrainConfig,
    learning_rate_at,
    parse_floats,
    parse_image_size,
    parse_learning_rate,
)


def test_learning_rate_schedule_switches_after_the_iteration() -> None:
    assert parse_learning_rate("1e-3,100:5e-4") == (1e-3, ((100, 5e-4),))
    assert [learning_rate_at("2e-3,300:6e-4", i) for i in (1, 300, 301)] == [2e-3, 2e-3, 6e-4]
    with pytest.raises(ConfigError):
        parse_learning_rate("fast")


def test_image_size_and_float_lists() -> None:
    assert parse_image_size("128:192") == (128, 192) and parse_image_size("64") == (64, 64)
    with pytest.raises(ConfigError, match="multiples of 4"):
        parse_image_size("130:128")
    assert parse_floats("1,2.5", "--x") == (1.0, 2.5)


@pytest.mark.parametrize(
    "options,message",
    [
        (dict(mode="video", h5_file="x.h5"), "--image-model"),
        (dict(mode="video", h5_file="", image_model="self", data_mix="shift:1"), "--h5-file"),
        (dict(mode="video", image_model="self", h5_file="x.h5", data_mix="video:1"), "--h5-file-video"),
        (dict(mode="image", h5_file=""), "--h5-file"),
        (dict(mode="image", h5_file="x.h5", crop_size=64, image_size="128:128"), "--crop-size"),
        (dict(mode="image", h5_file="x.h5", style_layers="a,b", style_weights="1,2,3"), "--style-weights"),
        (dict(mode="image", h5_file="x.h5", reliable_map_min_filter=4), "odd"),
        (dict(mode="sound", h5_file="x.h5"), "mode"),
    ],
)
def test_invalid_configs_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TrainConfig(style_image="s.png", **options)  # type: ignore[arg-type]


def test_config_round_trips_through_a_dict() -> None:
    config = TrainConfig(mode="image", style_image="s.png", h5_file="x.h5", style_weights="2")
    assert TrainConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError, match="unknown option"):
        TrainConfig.from_dict({**config.to_dict(), "warp_speed": 9})


def test_state_file_restores_optimizer_rng_and_history(tmp_path: Path) -> None:
    net = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
    net(torch.ones(4, 3)).sum().backward()
    optimizer.step()
    tensors, groups = flatten_optimizer(optimizer)
    assert set(tensors) == {f"opt/{i}/{n}" for i in (0, 1) for n in ("step", "exp_avg", "exp_avg_sq")}
    rebuilt = unflatten_optimizer(tensors, groups)
    assert torch.equal(rebuilt["state"][0]["exp_avg"], optimizer.state_dict()["state"][0]["exp_avg"])

    generator = torch.Generator().manual_seed(5)
    torch.manual_seed(11)
    state = TrainState(7, {"total": [[1.0, 2.0]]}, {"image_position": 3}, {"arch": "x"}, 12.5)
    save_state(tmp_path / "s.safetensors", optimizer, generator, state)
    expected = (torch.rand(3), torch.rand(3, generator=generator))

    fresh = torch.optim.Adam(torch.nn.Linear(3, 2).parameters(), lr=0.1)
    other = torch.Generator().manual_seed(99)
    torch.manual_seed(0)
    loaded = load_state(tmp_path / "s.safetensors", fresh, other)
    assert loaded == state
    assert state_iteration(tmp_path / "s.safetensors") == 7
    assert torch.equal(torch.rand(3), expected[0]) and torch.equal(torch.rand(3, generator=other), expected[1])
    assert torch.equal(fresh.state_dict()["state"][1]["exp_avg_sq"], optimizer.state_dict()["state"][1]["exp_avg_sq"])
    (tmp_path / "bad.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(InputError):
        load_state(tmp_path / "bad.safetensors", fresh, other)
    with pytest.raises(InputError, match="not a training-state file"):
        state_iteration(tmp_path / "bad.safetensors")
    with pytest.raises(InputError):
        state_iteration(tmp_path / "missing.safetensors")


def test_cli_registers_train_commands_and_reports_errors_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from training.cli import add_parser, main

    parser = argparse.ArgumentParser(prog="fav")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "image", "--style-image", "s.png", "--h5-file", "x.h5", "--use-instance-norm",
                              "0", "--style-weights", "2"])
    assert args.mode == "image" and args.use_instance_norm == 0 and args.style_weights == "2"
    assert main(["image", "--style-image", "s.png"]) == 2  # no --h5-file
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--h5-file" in err
