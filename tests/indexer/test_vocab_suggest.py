"""`erp-assist vocab suggest` (issue #19): the group's own words mined from a Chinese fixture KB and chat
history (tests/data/vocab_kb), confirmed into the tenant's vocab.yaml."""

from __future__ import annotations

import shutil

import pytest
from typer.testing import CliRunner

from erp_assist.cli import app
from indexer.errors import PackError
from indexer.text import TextProcessor
from indexer.vocab import TENANT_PACK, load_pack, load_vocabulary, vocabulary_for_settings
from indexer.vocab_suggest import mine_candidates, parse_accept, tenant_texts, write_tenant_pack
from models.taxonomy import load_taxonomy
from tests.conftest import DATA, ROOT, make_settings

KB = DATA / "vocab_kb"
PACKS = DATA / "vendors"
TAXONOMY = load_taxonomy(ROOT / "models" / "taxonomy.yaml")


@pytest.fixture(scope="module")
def candidates():
    vocabulary = load_vocabulary(TAXONOMY, ("sap", "kingdee"), vendor_dir=PACKS)
    sources, questions = tenant_texts(KB)
    assert len(questions) == 5  # askers only: the expert's answers are not questions
    mined = mine_candidates(sources, questions, TextProcessor(vocabulary=vocabulary), vocabulary)
    return {c.term: c for c in mined}


def test_codes_people_type_are_suggested(candidates):
    assert candidates["ZMM001"].kind == "code" and candidates["ZMM001"].in_questions == 2
    assert candidates["KIS-2031"].kind == "code"


def test_menu_names_jieba_cuts_apart_are_suggested(candidates):
    assert candidates["期初余额录入"].kind == "menu"
    assert "问题" not in candidates and "下推" not in candidates  # a chat label; a name jieba keeps whole


def test_askers_words_that_no_source_uses_are_suggested(candidates):
    assert candidates["入仓单"].in_sources == 0 and candidates["入仓单"].in_questions == 4


def test_known_names_are_not_suggested_again(candidates):
    assert not {"收料通知单", "采购入库单", "生成采购入库单"} & set(candidates)


def test_accepted_terms_go_to_the_tenants_pack(tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(KB, data_dir)
    path = write_tenant_pack(data_dir, parse_accept("入仓单=purchase_receipt，ZMM001,扫码枪"), TAXONOMY)
    assert path == data_dir / TENANT_PACK
    settings = make_settings(tmp_path, data_dir=data_dir, vendor_packs_dir=PACKS, erp_vendors="kingdee")
    vocabulary = vocabulary_for_settings(settings)
    assert vocabulary.vendors == ("kingdee", "tenant")
    assert vocabulary.term_concepts["入仓单"] == ("purchase_receipt",)
    assert "扫码枪" in TextProcessor(vocabulary=vocabulary).tokenize("扫码枪坏了")
    # An unknown concept is refused and the pack stays as it was.
    before = path.read_text(encoding="utf-8")
    with pytest.raises(PackError, match="unknown concept 'teleport'.*nothing was written"):
        write_tenant_pack(data_dir, parse_accept("瞬移单=teleport"), TAXONOMY)
    assert path.read_text(encoding="utf-8") == before


def test_cli_shows_a_table_and_writes_confirmed_terms(tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(KB, data_dir)
    env = {"ERP_ASSIST_DATA_DIR": str(data_dir), "ERP_ASSIST_VENDOR_PACKS_DIR": str(PACKS),
           "ERP_ASSIST_ERP_VENDORS": "sap,kingdee", "ERP_ASSIST_DATABASE_URL": f"sqlite:///{tmp_path / 'erp.db'}", "COLUMNS": "200"}
    runner = CliRunner()
    shown = runner.invoke(app, ["vocab", "suggest"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "ZMM001" in shown.output and "期初余额录入" in shown.output
    assert not (data_dir / TENANT_PACK).exists()  # showing writes nothing
    # --write asks for each candidate: yes (naming a concept) to the first, no to the rest.
    answers = "y\npurchase_receipt\n" + "n\n" * 10
    written = runner.invoke(app, ["vocab", "suggest", "--write", "--limit", "3"], env=env, input=answers)
    assert written.exit_code == 0, written.output
    pack = load_pack(data_dir / TENANT_PACK, TAXONOMY)
    assert len(pack.concepts["purchase_receipt"]) == 1 and not pack.words
    listed = runner.invoke(app, ["vocab", "list"], env=env)
    assert listed.exit_code == 0 and "tenant" in listed.output and "kingdee" in listed.output
    # A tenant pack's vendor id is the tenant's to choose; its row still names the tenant's file.
    own = data_dir / TENANT_PACK
    own.write_text(own.read_text(encoding="utf-8").replace("vendor: tenant", "vendor: acme"), encoding="utf-8")
    renamed = runner.invoke(app, ["vocab", "list"], env=env)
    assert renamed.exit_code == 0, renamed.output
    assert "acme" in renamed.output and TENANT_PACK in renamed.output
