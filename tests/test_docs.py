"""The README is the front door: every feed kind, setting and command a user can reach is in it."""

import re

import pytest

from feeds.base import REGISTRY, load_builtin_adapters
from ioc import PROJECT_ROOT
from ioc.cli import build_parser
from ioc.config import Settings

README = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "feeds"
FIXTURE_DIR = {"police_cad": "cad", "emergency_cad": "cad", "urban_cases": "urban", "video_ai": "video",
               "cap": "cap", "open311": "open311", "csv": "csv", "sensors_http": "sensors", "mqtt_sensors": "sensors"}

load_builtin_adapters()


@pytest.mark.parametrize("kind", sorted(k for k in REGISTRY if not k.startswith("test_")))
def test_every_feed_kind_is_documented_and_has_recorded_payloads(kind):
    assert f"| `{kind}` |" in README
    folder = FIXTURES / FIXTURE_DIR[kind]
    assert folder.is_dir() and any(folder.iterdir())


@pytest.mark.parametrize("section, field", [
    (section, field)
    for section, model in Settings.model_fields.items() if section not in ("feeds", "source")
    for field in model.annotation.model_fields
])
def test_every_setting_is_documented(section, field):
    row = rf"^\| `\[{section}\][^|]*\b{field}\b"  # the first cell of a row of the settings table
    assert re.search(row, README, re.M), f"[{section}] {field} is not in README"


def test_every_command_is_documented():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name in sub.choices:
        assert re.search(rf"^\| `{name}\b", README, re.M), f"`{name}` is not in README's command table"


def test_every_screen_word_has_both_languages_and_every_key_is_used():
    from ioc.i18n import MESSAGES

    code = "".join(p.read_text(encoding="utf-8") for folder in ("layouts", "ioc") for p in
                   (PROJECT_ROOT / folder).rglob("*.py") if p.name != "i18n.py")
    for key, (zh, en) in MESSAGES.items():
        assert zh.strip() and en.strip(), key
        prefix = key.split(".")[0] + "."
        assert key in code or f'"{prefix}"' in code or f"'{prefix}'" in code or f'f"{prefix}' in code, \
            f"{key} is never shown"
