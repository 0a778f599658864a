"""Which button a callback acts on: the one clicked, not a button a redraw just added."""

from contextvars import copy_context

from dash._callback_context import context_value
from dash._utils import AttributeDict

from layouts.chips import clicked


def triggered(*items):
    def run():
        context_value.set(AttributeDict(triggered_inputs=[{"prop_id": p, "value": v} for p, v in items]))
        return clicked()

    return copy_context().run(run)


def test_a_button_added_by_a_redraw_is_not_taken_for_the_click():
    unit = '{"asg":0,"to":"OUT_OF_SERVICE","type":"dc-unit","unit":"RT-0002","ver":1}.n_clicks'
    confirm = '{"name":"confirm","type":"dc-btn"}.n_clicks'
    assert triggered((unit, 0), (confirm, 1)) == {"name": "confirm", "type": "dc-btn"}
    assert triggered((unit, 0)) is None
    assert triggered(("dc-next.n_clicks", 2)) == "dc-next"


def test_points_follow_the_tiles_datum(tmp_path, monkeypatch):
    from ioc.config import Settings
    from ioc.runtime import Runtime
    from ioc.store.db import make_engine
    from ioc.store.migrate import upgrade
    from layouts import chips
    from tests.factories import make_small_pack

    engine = make_engine(f"sqlite:///{tmp_path / 'ioc.db'}")
    upgrade(engine)
    settings = Settings()
    settings.demo.enabled = False
    monkeypatch.setattr("app.open_city", lambda _s: Runtime(settings, engine, make_small_pack(tmp_path), "k"))
    from app import create_app

    server = create_app(settings).server
    with server.app_context():
        assert chips.on_tiles([(113.75, 22.95)]) == [(113.75, 22.95)]
        settings.web.tile_crs = "gcj02"
        (lon, lat), = chips.on_tiles([(113.75, 22.95)])
        assert 0.003 < lon - 113.75 < 0.008 and -0.005 < lat - 22.95 < 0  # GCJ-02 is ~500 m off in Dongguan
