"""Triage of citizens' words on the Dongguan pack: places in full and short forms and villages,
category phrases, the reason shown, and the CLI on a file of texts."""

import csv
import json
import tomllib

import pytest

from ioc import PROJECT_ROOT
from ioc.city import triage
from ioc.city.pack import load_pack
from ioc.records import CATEGORIES
from tests.conftest import assert_one_line_error

DONGGUAN = PROJECT_ROOT / "geodata" / "dongguan"
CHANGAN, HUMEN = "441900119", "441900121"


@pytest.fixture(scope="module")
def dg():
    return triage.for_pack(load_pack(DONGGUAN))


def test_a_town_is_found_by_its_full_name_its_short_name_and_its_villages(dg):
    assert dg.suggest("长安镇有人在放音响").division == CHANGAN
    assert dg.suggest("长安这边噪音很大").division == CHANGAN
    village = dg.suggest("乌沙社区晚上噪音扰民")
    assert village.division == CHANGAN
    assert triage.explain(village, "en", dg.names).startswith("'乌沙' in the text (Chang'an)")
    assert dg.suggest("虎门北栅有人打架").division == HUMEN


def test_the_reason_names_the_words_in_both_languages(dg):
    s = dg.suggest("长安 噪音")
    assert (s.division, s.category, s.org) == (CHANGAN, "noise", "DEPT-ENV")
    assert triage.explain(s, "en", dg.names) == "'长安' in the text; '噪音' → Noise"
    assert triage.explain(s, "zh-CN", dg.names) == "文中有“长安”；“噪音” → 噪音扰民"


def test_a_one_character_phrase_counts_only_as_a_word_and_the_longest_phrase_wins(dg):
    assert dg.suggest("隔壁天天吵").category == "noise"
    assert dg.suggest("火车站人很多").category is None
    assert dg.suggest("公交站牌坏了").category == "facility_damage"  # not 公交 (traffic)
    assert dg.suggest("邻居吵架打起来了").category != "noise"  # 吵架 is a dispute, not 吵


def test_a_text_that_names_nothing_suggests_nothing(dg):
    s = dg.suggest("您好，我想反映一个情况")
    assert not s
    assert triage.explain(s, "en", dg.names) == "nothing in the text names a place or a matter"


def test_dongguan_triage_covers_every_category_and_agrees_with_the_routing(dg):
    with (DONGGUAN / "triage.toml").open("rb") as fh:
        declared = tomllib.load(fh)["categories"]
    assert set(declared) == set(CATEGORIES)
    for category in CATEGORIES:
        if category != "other":
            assert declared[category]["phrases"], category
        assert declared[category]["department"] == triage._routed_department(dg.pack, category), category


def test_cli_triages_a_file_of_texts(cli, tmp_path):
    file = tmp_path / "calls.csv"
    with file.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerows([["id", "words"], ["1", "长安镇乌沙KTV噪音扰民"], ["2", "请问居住证怎么办理"],
                          ["3", "您好"]])
    result = cli("triage", str(file), "--text-column", "words", "--json")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["division_code"], r["category"]) for r in rows] == [
        (CHANGAN, "noise"), (None, "consultation"), (None, None)]
    assert "'乌沙'" not in rows[0]["reason"] and "“乌沙”" in rows[0]["reason"]  # default language zh-CN
    assert "triaged 3 rows: 1 with a division, 2 with a category" in result.stderr
    plain = cli("triage", str(file), "--text-column", "words", "--lang", "en")
    assert next(csv.DictReader(plain.stdout.splitlines()))["division"] == "Chang'an"


def test_cli_names_the_columns_when_the_text_column_is_wrong(cli, tmp_path):
    file = tmp_path / "calls.csv"
    file.write_text("id,words\n1,噪音\n", encoding="utf-8")
    assert_one_line_error(cli("triage", str(file), "--text-column", "text"), "no column 'text'", "id, words")
