"""Every refusal the chain raises names a reason that pages can say in zh-CN and in English."""

import ast
import string
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import ioc.chain.accounts  # noqa: F401  (defines LoginThrottled, a refusal of its own)
from ioc import errors
from ioc.chain import saved_views
from ioc.chain.actions import Actor
from ioc.i18n import MESSAGES
from ioc.read import summary
from layouts.chips import reason
from tests.factories import OFFICER, VIEWER

IOC = Path(__file__).resolve().parents[2] / "ioc"


def _refusals() -> set[str]:
    found, todo = set(), [errors.UserError]
    while todo:
        cls = todo.pop()
        found.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return found


def _name(func: ast.expr) -> str | None:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _passed_keys(tree: ast.Module, fn: ast.FunctionDef, param: str) -> list[str | None]:
    """The keys a helper's ``key`` parameter gets: its default and what each call in the module passes."""
    names = [a.arg for a in fn.args.args]
    index = names.index(param)
    defaults = dict(zip(names[len(names) - len(fn.args.defaults):], fn.args.defaults))
    keys = [defaults[param].value] if isinstance(defaults.get(param), ast.Constant) else []
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and _name(call.func) == fn.name:
            given = {k.arg: k.value for k in call.keywords}
            value = call.args[index] if len(call.args) > index else given.get(param)
            if value is not None:
                keys.append(value.value if isinstance(value, ast.Constant) else None)
    return keys


def _raised_reasons(folder: str) -> list[tuple[str, str | None, set[str]]]:
    """(where, key, params given) for every construction of a UserError kind in ``ioc/<folder>``."""
    refusals, out = _refusals(), []
    for file in sorted((IOC / folder).glob("*.py")):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            for call in ast.walk(fn):
                if not (isinstance(call, ast.Call) and _name(call.func) in refusals):
                    continue
                where = f"{file.name}:{call.lineno}"
                given = {k.arg: k.value for k in call.keywords}
                params = set(given) - {"key"}
                key = given.get("key")
                if isinstance(key, ast.Name) and key.id in [a.arg for a in fn.args.args]:
                    out += [(where, k, params) for k in _passed_keys(tree, fn, key.id)]
                else:
                    out.append((where, key.value if isinstance(key, ast.Constant) else None, params))
    return out


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def _check(raised: list[tuple[str, str | None, set[str]]]) -> None:
    missing = [f"{where} (key {key!r})" for where, key, _ in raised if f"reason.{key}" not in MESSAGES]
    assert not missing, "refusals with no reason.<key> in ioc/i18n.py: " + ", ".join(missing)
    for where, key, params in raised:
        zh, en = MESSAGES[f"reason.{key}"]
        assert _placeholders(zh) == _placeholders(en), f"reason.{key}: zh and en name different values"
        assert _placeholders(zh) <= params, f"{where}: reason.{key} needs {_placeholders(zh) - params}"


def test_every_chain_refusal_has_a_reason_in_both_languages():
    raised = _raised_reasons("chain")
    assert len(raised) > 60  # the walk really finds the chain's refusals
    _check(raised)


def test_the_read_side_reasons_pages_show_are_in_the_catalogue():
    """Read-side errors mostly answer the API and the CLI; those a page shows carry a key, and it must exist."""
    keyed = [r for r in _raised_reasons("read") if r[1] is not None]
    assert {"last_before_first", "max_days", "bad_window"} <= {key for _, key, _ in keyed}
    _check(keyed)


def test_a_refusal_reads_in_the_readers_language(engine):
    view = saved_views.save(engine, OFFICER, "mine", {}, [])
    with pytest.raises(errors.Forbidden) as someone_elses:
        saved_views.delete(engine, VIEWER, view.id)
    with pytest.raises(errors.NotFound) as gone:
        saved_views.delete(engine, OFFICER, view.id + 1000)
    with pytest.raises(errors.ActionRefused) as unnamed:
        saved_views.save(engine, Actor("li", "duty_officer"), " ", {}, [])
    assert str(someone_elses.value) == "that view belongs to someone else"  # the API and CLI keep English
    assert reason(someone_elses.value, "zh-CN") == "该视图属于其他人。"
    assert reason(gone.value, "zh-CN") == f"保存的视图 {view.id + 1000} 不存在。"
    assert reason(gone.value, "en") == f"Saved view {view.id + 1000} does not exist."
    assert reason(unnamed.value, "zh-CN") == "请为视图填写 1 到 80 个字符的名称。"


def test_a_summary_period_refusal_reads_in_chinese():
    tz = ZoneInfo("Asia/Shanghai")
    with pytest.raises(errors.UserError) as backwards:
        summary.period_for("custom", tz, datetime(2026, 7, 3, tzinfo=tz), "2026-07-02", "2026-07-01")
    assert reason(backwards.value, "zh-CN") == "结束日 2026-07-01 早于开始日 2026-07-02。"
    assert str(backwards.value) == "the last day 2026-07-01 is before the first day 2026-07-02"
