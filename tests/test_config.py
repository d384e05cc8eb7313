import re
from pathlib import Path

import msgspec
import pytest

from responder.cli import main
from responder.config import ConfigError, Settings, load_settings
from tests.conftest import ROOT


def test_defaults_come_from_the_file(tmp_path: Path) -> None:
    settings = load_settings(ROOT / "config.toml", environ={})
    assert settings.web.port == 8000
    assert settings.database.url.startswith("sqlite:///")


def test_environment_overrides_a_key() -> None:
    env = {"RESPONDER_WEB__PORT": "9001", "RESPONDER_DATABASE__URL": "sqlite:////tmp/x.db"}
    settings = load_settings(ROOT / "config.toml", environ=env)
    assert settings.web.port == 9001
    assert settings.database.url == "sqlite:////tmp/x.db"


def test_a_bad_value_names_the_key(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[web]\nport = "eighty"\n')
    with pytest.raises(ConfigError, match=r"web\.port"):
        load_settings(path, environ={})


def test_an_unknown_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[web]\nprot = 80\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings(path, environ={})


def test_out_of_range_value_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"pipeline\.batch_size"):
        load_settings(ROOT / "config.toml", environ={"RESPONDER_PIPELINE__BATCH_SIZE": "0"})


def test_cli_reports_a_bad_config_and_exits(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[outbound]\ntransport = 'pigeon'\n")
    assert main(["--config", str(path), "db", "upgrade"]) == 2
    err = capsys.readouterr().err
    assert "outbound.transport" in err


def test_every_setting_is_in_config_toml_with_a_comment() -> None:
    text = (ROOT / "config.toml").read_text()
    for section in msgspec.structs.fields(Settings):
        if section.name == "base_dir":
            continue
        assert f"[{section.name}]" in text, section.name
        block = text.split(f"[{section.name}]", 1)[1].split("\n[", 1)[0]
        for field in msgspec.structs.fields(section.type):
            match = re.search(rf"(?m)^# .+\n{field.name} = ", block)
            assert match, f"{section.name}.{field.name} missing or without a comment"


@pytest.mark.parametrize("key", ["ACTIONS__CONTACT_DAYS", "CHURN__REPEAT_CONTACT_DAYS"])
def test_a_contact_window_too_long_to_be_a_date_stops_start_up(key: str) -> None:
    """A million days reaches back before year 1: loaded, it made every draft fail
    (OverflowError for the contacts window's start), so start-up names the setting instead."""
    name = key.lower().replace("__", ".")
    environ = {f"RESPONDER_{key}": "1000000"}
    with pytest.raises(ConfigError, match=rf"{re.escape(name)}: .*36500"):
        load_settings(ROOT / "config.toml", environ=environ)
    assert (
        getattr(
            getattr(
                load_settings(ROOT / "config.toml", environ={f"RESPONDER_{key}": "36500"}),
                name.split(".")[0],
            ),
            name.split(".")[1],
        )
        == 36500
    )


def test_a_negative_repeat_contact_window_stops_start_up() -> None:
    """Loaded, -30 silently counted no contacts (the window began in the future) and
    -3,000,000 made every draft fail (OverflowError for the window's start)."""
    environ = {"RESPONDER_CHURN__REPEAT_CONTACT_DAYS": "-30"}
    with pytest.raises(ConfigError, match=r"churn\.repeat_contact_days: .*negative, got -30"):
        load_settings(ROOT / "config.toml", environ=environ)
    # A negative retry wait retried a failing send or stage at once, attempt after attempt.
    for section in ("OUTBOUND", "PIPELINE"):
        environ = {f"RESPONDER_{section}__RETRY_BASE_SECONDS": "-30"}
        with pytest.raises(ConfigError, match=rf"{section.lower()}\.retry_base_seconds: .*-30"):
            load_settings(ROOT / "config.toml", environ=environ)


def test_a_password_hash_cost_argon2_cannot_use_stops_start_up() -> None:
    with pytest.raises(ConfigError, match=r"web\.password_hash_memory_kib: at least 32"):
        load_settings(
            ROOT / "config.toml", environ={"RESPONDER_WEB__PASSWORD_HASH_MEMORY_KIB": "16"}
        )
    with pytest.raises(ConfigError, match=r"web\.password_hash_time_cost: 1 or more"):
        load_settings(ROOT / "config.toml", environ={"RESPONDER_WEB__PASSWORD_HASH_TIME_COST": "0"})
