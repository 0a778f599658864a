"""/export/board.*: behind the pages' sign-in, the board's query in the link, a clear 400 for a bad one."""

import io

import pytest
from openpyxl import load_workbook

from ioc.chain.accounts import add_user
from ioc.config import Settings
from ioc.runtime import Runtime
from ioc.store.packload import load_pack_into_store
from tests.factories import add_incident, make_small_pack


@pytest.fixture
def client(engine, tmp_path, monkeypatch):
    from app import create_app

    pack = make_small_pack(tmp_path)
    load_pack_into_store(engine, pack)
    add_incident(engine, pack, priority="P1", title="火警")
    add_incident(engine, pack, priority="P3", title="噪音")
    add_user(engine, "duty1", "duty_officer", "duty-pass-1")
    settings = Settings()
    settings.demo.enabled = False
    settings.web.public_read = False
    monkeypatch.setattr("app.open_city", lambda _s: Runtime(settings, engine, pack, secret_key="s"))
    return create_app(settings).server.test_client()


def test_exports_need_a_sign_in_and_follow_the_query(client):
    assert client.get("/export/board.csv").status_code == 302  # to the sign-in form
    client.post("/login", data={"username": "duty1", "password": "duty-pass-1"})
    csv_text = client.get("/export/board.csv?priority=P1").get_data().decode("utf-8-sig")
    assert csv_text.splitlines()[1].split(",")[5] == "火警" and len(csv_text.splitlines()) == 2
    r = client.get("/export/board.xlsx?sort=priority&dir=desc")
    titles = [row[5] for row in load_workbook(io.BytesIO(r.data)).active.iter_rows(min_row=2, values_only=True)]
    assert titles == ["噪音", "火警"]
    bad = client.get("/export/board.csv?sort=description")
    assert bad.status_code == 400 and "cannot sort by 'description'" in bad.get_data(as_text=True)
