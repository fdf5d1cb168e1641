import pytest

from kg_recsys.config import ConfigError, RecommenderConfig, TrainConfig


def test_defaults_are_valid_and_frozen():
    config = RecommenderConfig()
    with pytest.raises(Exception):
        config.train = TrainConfig()  # type: ignore[misc]


def test_bad_values_name_the_field():
    with pytest.raises(ConfigError, match=r"\[train\] lr"):
        TrainConfig(lr=0)


def test_unknown_keys_are_errors_not_silent_defaults(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[train]\nepochs = 3\nlearning_rate = 0.1\n")
    with pytest.raises(ConfigError, match="learning_rate"):
        RecommenderConfig.from_toml(path)
    path.write_text("[trian]\nepochs = 3\n")
    with pytest.raises(ConfigError, match="trian"):
        RecommenderConfig.from_toml(path)


def test_toml_round_trip(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('unknown_user = "error"\n[train]\nepochs = 3\n[model]\nuse_kg = false\n')
    config = RecommenderConfig.from_toml(path)
    assert config.train.epochs == 3 and not config.model.use_kg and config.unknown_user == "error"
    assert RecommenderConfig.from_dict(config.to_dict()) == config
