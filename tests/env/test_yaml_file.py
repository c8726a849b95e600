"""env.yaml_file: the one YAML reader of run configs, rl.compare settings and reward.classify --config."""

from __future__ import annotations

from pathlib import Path

import pytest

from env.yaml_file import YamlFileError, read_yaml_mapping


@pytest.mark.parametrize(("content", "message"), [
    (b"a: 1\nb: caf\xe9\n", "{path}:2: not UTF-8 (byte 0xe9); save it as UTF-8"),
    (b"\xff\xfea\x00:\x00", "{path}:1: not UTF-8 (byte 0xff); save it as UTF-8"),  # UTF-16 with a BOM
    (b"a: [1\n", "{path}: not valid YAML ("),
    (b"- a\n- b\n", "{path}: top level must be a mapping with env/rl sections, not list"),
    (b"just text\n", "{path}: top level must be a mapping with env/rl sections, not str"),
])
def test_bad_files_are_named_with_the_line_and_the_fix(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_bytes(content)
    with pytest.raises(YamlFileError) as e:
        read_yaml_mapping(path, sections="env/rl sections")
    assert str(e.value).startswith(message.format(path=f"config file {path}"))


def test_a_missing_file_and_an_empty_one(tmp_path: Path) -> None:
    with pytest.raises(YamlFileError, match=r"config file .*nope\.yaml: cannot read \(No such file or directory\)"):
        read_yaml_mapping(tmp_path / "nope.yaml", sections="x")
    (tmp_path / "empty.yaml").write_text("# only a comment\n")
    assert read_yaml_mapping(tmp_path / "empty.yaml", sections="x") == {}
    (tmp_path / "ok.yaml").write_text("rl:\n  seed: 3\n", encoding="utf-8")
    assert read_yaml_mapping(str(tmp_path / "ok.yaml"), sections="x") == {"rl": {"seed": 3}}


def test_every_config_reader_uses_it(tmp_path: Path) -> None:
    """Run configs, rl.compare settings and reward.classify --config give the same message for one bad file."""
    from reward.classify import load_reward_config
    from rl.evaluation.settings import load_settings
    from rl.config import ConfigError, load_config

    bad = tmp_path / "bad.yaml"
    bad.write_bytes(b"reward:\n  judge:\n    model: caf\xe9\n")
    expected = f"config file {bad}:3: not UTF-8 (byte 0xe9); save it as UTF-8"
    for read in (lambda: load_config(bad), lambda: load_settings(str(bad), []),
                 lambda: load_reward_config(str(bad), {})):
        with pytest.raises(ValueError) as e:
            read()
        assert str(e.value) == expected
    with pytest.raises(ConfigError):
        load_config(bad)
