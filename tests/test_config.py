"""Settings: defaults with no file, the file, environment overrides, clear errors."""

from pathlib import Path

import pytest

from ioc.config import load_settings
from ioc.errors import ConfigError


def write(tmp_path: Path, body: str) -> dict[str, str]:
    file = tmp_path / "ioc.toml"
    file.write_text(body, encoding="utf-8")
    return {"IOC_CONFIG": str(file)}


def test_runs_with_no_file_at_all(tmp_path):
    settings = load_settings(env={}, default_file=tmp_path / "absent.toml")
    assert settings.store.url.startswith("sqlite:///")
    assert settings.city.pack == "dongguan"
    assert settings.web.port == 8050
    assert settings.web.language == "zh-CN"
    assert settings.feeds == []


def test_file_sections_are_read(tmp_path):
    env = write(tmp_path, """
[store]
url = "postgresql://ioc@db.example/ioc"
[city]
pack = "foshan"
[web]
host = "0.0.0.0"
port = 9000
language = "en"
tile_url = "https://tiles.example/{z}/{x}/{y}.png"
tile_crs = "gcj02"
[[feeds]]
name = "police"
kind = "police_cad"
interval_seconds = 15
url = "http://127.0.0.1:9100/cad"
""")
    s = load_settings(env=env)
    assert s.store.url == "postgresql+psycopg://ioc@db.example/ioc"
    assert s.city.pack_dir().name == "foshan"
    assert (s.web.host, s.web.port, s.web.language, s.web.tile_crs) == ("0.0.0.0", 9000, "en", "gcj02")
    assert s.feeds[0].name == "police" and s.feeds[0].model_extra == {"url": "http://127.0.0.1:9100/cad"}


def test_environment_overrides_the_file(tmp_path):
    env = write(tmp_path, '[store]\nurl = "sqlite:///a.db"\n[web]\nlanguage = "zh-CN"\n')
    env.update(IOC_DATABASE_URL="sqlite:///b.db", IOC_CITY="testville", IOC_LANG="en")
    s = load_settings(env=env)
    assert s.store.url == "sqlite:///b.db"
    assert s.city.pack == "testville"
    assert s.web.language == "en"


@pytest.mark.parametrize("body, fragment", [
    ("[web]\nport = 'eighty'\n", "web.port"),
    ("[web]\nport = 70000\n", "web.port"),
    ("[web]\nlanguage = 'fr'\n", "web.language"),
    ("[web]\ncolour = 'blue'\n", "web.colour: unknown key"),
    ("[store]\nurl = 'mysql://x'\n", "store.url"),
    ("[web\n", "not valid TOML"),
])
def test_invalid_file_names_the_key_and_problem(tmp_path, body, fragment):
    env = write(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_settings(env=env)
    assert fragment in str(err.value)
    assert str(tmp_path / "ioc.toml") in str(err.value)


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_settings(env={"IOC_CONFIG": str(tmp_path / "nope.toml")})


def test_bad_environment_value_is_reported(tmp_path):
    with pytest.raises(ConfigError, match="web.language"):
        load_settings(env={"IOC_LANG": "klingon"}, default_file=tmp_path / "absent.toml")
