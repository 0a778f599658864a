"""`python -m ioc briefing` and the briefing download, as a user meets them."""

from datetime import date, timedelta

import pytest

from ioc.read.briefing_doc import text_of
from tests.conftest import assert_one_line_error


@pytest.fixture
def ready(cli):
    assert cli("db", "upgrade").returncode == 0
    assert cli("city", "load").returncode == 0
    return cli


def test_briefing_writes_a_pdf_and_a_png(ready, tmp_path):
    out = tmp_path / "day.pdf"
    result = ready("briefing", "2026-07-01", "--format", "pdf", "--lang", "en", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "briefing of 2026-07-01 written" in result.stdout
    text = text_of(out.read_bytes())
    assert "Dongguan · Daily operations briefing" in text and "2026-07-01 Wednesday" in text
    png = tmp_path / "day.png"
    assert ready("briefing", "2026-07-01", "--format", "png", "--out", str(png)).returncode == 0
    assert png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args, fragment", [
    (["2026-02-30"], "is not a date"),
    ([(date.today() + timedelta(days=3)).isoformat()], "has not happened yet"),
    (["2026-07-01", "--format", "doc"], "invalid choice"),
])
def test_briefing_mistakes_are_one_line(ready, tmp_path, args, fragment):
    result = ready("briefing", *args, "--out", str(tmp_path / "x.pdf"))
    assert_one_line_error(result, fragment)
    assert result.returncode == 2


def test_the_download_route_refuses_bad_days_and_formats_in_words(tmp_path, monkeypatch):
    from app import create_app
    from ioc.config import Settings
    from ioc.runtime import Runtime
    from ioc.store.db import make_engine
    from ioc.store.migrate import upgrade
    from ioc.store.packload import load_pack_into_store
    from tests.factories import make_small_pack

    engine = make_engine(f"sqlite:///{tmp_path / 'ioc.db'}")
    upgrade(engine)
    pack = make_small_pack(tmp_path)
    load_pack_into_store(engine, pack)
    settings = Settings()
    settings.demo.enabled = False
    settings.briefing.folder = str(tmp_path / "kept")
    monkeypatch.setattr("app.open_city", lambda _s: Runtime(settings, engine, pack, secret_key="k"))
    client = create_app(settings).server.test_client()
    bad_day = client.get("/briefing/2026-13-01.pdf")
    assert bad_day.status_code == 400 and "is not a date" in bad_day.text
    bad_format = client.get("/briefing/2026-07-01.doc")
    assert bad_format.status_code == 400 and "use pdf or png" in bad_format.text
    ok = client.get("/briefing/2026-07-01.png?lang=en")
    assert ok.status_code == 200 and ok.mimetype == "image/png"
    assert 'filename=briefing-2026-07-01-en.png' in ok.headers["Content-Disposition"]
