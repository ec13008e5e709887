"""The config file: env expansion, validation errors that name the file and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelrail.app import build_deployments
from modelrail.settings import ConfigError, load_settings

EXAMPLE = Path(__file__).parents[2] / "examples" / "modelrail.yaml"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "conf.yaml"
    p.write_text(text)
    return p


def test_env_expansion_and_defaults(tmp_path):
    p = write(
        tmp_path,
        """
models:
  - name: gpt-4o-mini
    provider: openai
    model: gpt-4o-mini
    api_base: http://127.0.0.1:9100/v1
    api_key: ${OPENAI_API_KEY}
    organization: ${ORG:-default-org}
""",
    )
    s = load_settings(p, env={"OPENAI_API_KEY": "sk-abc"})
    assert s.models[0].provider_options()["api_key"] == "sk-abc"
    assert s.models[0].provider_options()["organization"] == "default-org"
    table, providers = build_deployments(s)
    assert providers[0].config.api_key == "sk-abc"
    assert table["gpt-4o-mini"][0].model == "gpt-4o-mini"


def test_missing_env_var_names_field_and_file(tmp_path):
    p = write(tmp_path, "models:\n  - name: m\n    provider: openai\n    api_key: ${NOT_SET_ANYWHERE}\n")
    with pytest.raises(ConfigError) as e:
        load_settings(p, env={})
    assert str(p) in str(e.value)
    assert "models[0].api_key" in str(e.value)
    assert "NOT_SET_ANYWHERE" in str(e.value)


def test_unknown_top_level_and_server_fields(tmp_path):
    p = write(tmp_path, "server:\n  prot: 8000\n")
    with pytest.raises(ConfigError) as e:
        load_settings(p, env={})
    assert "server.prot: unknown field" in str(e.value)
    assert str(p) in str(e.value)


def test_bad_value(tmp_path):
    p = write(tmp_path, "server:\n  port: 99999\n")
    with pytest.raises(ConfigError, match=r"server\.port"):
        load_settings(p, env={})


def test_provider_option_typo_is_caught_at_build(tmp_path):
    p = write(tmp_path, "models:\n  - name: m\n    provider: openai\n    api_bsae: http://x\n")
    s = load_settings(p, env={})
    with pytest.raises(ConfigError) as e:
        build_deployments(s)
    assert "models[0].api_bsae: unknown field" in str(e.value)


def test_unknown_provider(tmp_path):
    p = write(tmp_path, "models:\n  - name: m\n    provider: nosuch\n")
    with pytest.raises(ConfigError, match=r"models\[0\]\.provider: unknown provider 'nosuch'"):
        build_deployments(load_settings(p, env={}))


def test_invalid_yaml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(write(tmp_path, "models: [\n"), env={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "absent.yaml", env={})


def test_master_key_from_environment_wins(tmp_path):
    p = write(tmp_path, "auth:\n  master_key: from-file-0123456789abcdef\n")
    env = {"MODELRAIL_MASTER_KEY": "from-env-0123456789abcdef"}
    assert load_settings(p, env=env).auth.master_key == "from-env-0123456789abcdef"
    assert load_settings(p, env={}).auth.master_key == "from-file-0123456789abcdef"


def test_default_config_loads():
    s = load_settings(None, env={})
    table, _ = build_deployments(s)
    assert table


def test_shipped_example_is_valid():
    env = {"OPENAI_API_KEY": "sk-x", "ANTHROPIC_API_KEY": "x", "MISTRAL_API_KEY": "x", "GROQ_API_KEY": "x"}
    s = load_settings(EXAMPLE, env=env)
    table, _ = build_deployments(s)
    assert "gpt-4o-mini" in table
