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
