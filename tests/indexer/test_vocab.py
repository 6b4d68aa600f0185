"""ERP vocabulary packs (issue #19): loader checks, codes kept whole, concept expansion over a real index,
vendor selection per tenant. Fixture packs in tests/data/vendors (the shipped packs are tested by loading)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from indexer.errors import PackError
from indexer.text import TextProcessor, normalize
from indexer.vocab import (
    CONCEPT_PREFIX,
    TENANT_PACK,
    VENDOR_DIR,
    available_vendors,
    load_pack,
    load_vocabulary,
    parse_vendor_list,
    shipped_new_concepts,
    vocabulary_for_settings,
)
from models.taxonomy import load_taxonomy
from tests.conftest import DATA, ROOT, make_settings

FIXTURE_PACKS = DATA / "vendors"
TAXONOMY = load_taxonomy(ROOT / "models" / "taxonomy.yaml")


def _pack(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "acme.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _processor(*vendors: str) -> TextProcessor:
    return TextProcessor(vocabulary=load_vocabulary(TAXONOMY, vendors, vendor_dir=FIXTURE_PACKS))


# Loader checks --------------------------------------------------------------------------------------------------


def test_fixture_packs_load_with_their_new_concepts():
    pack = load_pack(FIXTURE_PACKS / "sap.yaml", TAXONOMY)
    assert pack.vendor == "sap"
    assert pack.concepts["purchase_receipt"][0] == "MIGO"
    assert [c.id for c in pack.new_concepts] == ["mrp_controller"]
    assert [p.name for p in pack.code_patterns] == ["message_number", "tcode"]


def test_unknown_concept_names_file_and_line(tmp_path):
    path = _pack(tmp_path, "vendor: acme\nconcepts:\n  purchase_order: [PO]\n  goods_teleport: [瞬移单]\n")
    with pytest.raises(PackError, match=r"acme\.yaml:4: unknown concept 'goods_teleport'.*new_concepts"):
        load_pack(path, TAXONOMY)


def test_unknown_module_of_a_new_concept_names_file_and_line(tmp_path):
    path = _pack(tmp_path, "vendor: acme\nnew_concepts:\n  - id: shop_floor\n    module: factory\n    zh: [车间]\n")
    with pytest.raises(PackError, match=r"acme\.yaml:4: concept 'shop_floor' has unknown module 'factory'"):
        load_pack(path, TAXONOMY)


def test_bad_regex_names_file_and_line(tmp_path):
    path = _pack(tmp_path, "vendor: acme\ncode_patterns:\n  - name: broken\n    pattern: '[A-Z(\\d'\n")
    with pytest.raises(PackError, match=r"acme\.yaml:4: code pattern 'broken' is not a valid Python regex"):
        load_pack(path, TAXONOMY)


def test_pattern_must_match_its_own_examples(tmp_path):
    path = _pack(tmp_path, "vendor: acme\ncode_patterns:\n  - name: err\n    pattern: 'E\\d{4}'\n"
                           "    examples: [E1234, E12]\n")
    with pytest.raises(PackError, match=r"acme\.yaml:5: code pattern 'err' does not match its own example 'E12'"):
        load_pack(path, TAXONOMY)


def test_invalid_yaml_names_the_line(tmp_path):
    path = _pack(tmp_path, "vendor: acme\nconcepts:\n  purchase_order: [PO\n  sales_order: [SO]\n")
    with pytest.raises(PackError, match=r"acme\.yaml:\d+: not valid YAML"):
        load_pack(path, TAXONOMY)


def test_every_shipped_pack_loads():
    """The packs in indexer/dicts/vendors pass the same checks (a writer's mistake fails here, not in serving)."""
    shared = shipped_new_concepts(VENDOR_DIR, TAXONOMY)
    for vendor in available_vendors(VENDOR_DIR):
        pack = load_pack(VENDOR_DIR / f"{vendor}.yaml", TAXONOMY, shared)
        assert pack.vendor == vendor and pack.concepts, vendor


# Tokenizer ------------------------------------------------------------------------------------------------------


def test_vendor_codes_are_kept_whole():
    processor = _processor("sap", "kingdee")
    tokens = processor.tokenize("MIGO收货报M7 021库存不足，金蝶报K3-1001")
    assert "m7021" in tokens and "m7" not in tokens  # without the pack "M7 021" falls apart
    assert "k3-1001" in tokens and "k3" not in tokens
    assert "migo" in tokens
    plain = TextProcessor().tokenize("MIGO收货报M7 021库存不足")
    assert "m7021" not in plain and "m7" in plain


def test_concept_tokens_join_vendor_names():
    processor = _processor("sap", "kingdee")
    sap = processor.tokenize("VL31N 内向交货 做不了")
    kingdee = processor.tokenize("收料通知单无法下推")
    concept = CONCEPT_PREFIX + "receiving_notice"
    assert concept in sap and concept in kingdee
    # A code inside Chinese text has no \b around it in Python; pack patterns still see its edges.
    assert CONCEPT_PREFIX + "purchase_receipt" in processor.tokenize("用MIGO收货")
    assert "goods_receipt" in processor.tokenize("Goods Receipt failed")


def test_longest_name_wins():
    processor = _processor("kingdee")
    tokens = processor.tokenize("直接调拨单审核")
    assert CONCEPT_PREFIX + "stock_transfer" in tokens
    assert tokens.count(CONCEPT_PREFIX + "stock_transfer") == 1  # not again for 调拨单 inside it


def test_module_evidence_from_vendor_names():
    vocabulary = load_vocabulary(TAXONOMY, ("sap",), vendor_dir=FIXTURE_PACKS)
    assert vocabulary.module_evidence("ME21N 建单报错") == {"purchasing": 1.0}
    assert vocabulary.module_evidence("Inbound Delivery 和 MIGO") == {"purchasing": 0.5, "inventory": 0.5}
    # The catalogue's generic words are the classifier's to read; only vendors' names are evidence of their own.
    assert vocabulary.module_evidence("采购订单审核报错") == {}
    assert vocabulary.module_evidence("今天天气不错") == {}


# Vendor selection -----------------------------------------------------------------------------------------------


def test_vendor_list_parsing():
    assert parse_vendor_list("all", FIXTURE_PACKS) == ("kingdee", "sap")
    assert parse_vendor_list("none", FIXTURE_PACKS) == ()
    assert parse_vendor_list(" SAP, kingdee ", FIXTURE_PACKS) == ("sap", "kingdee")
    with pytest.raises(PackError, match="unknown ERP vendor 'oracel'.*kingdee, sap"):
        parse_vendor_list("sap,oracel", FIXTURE_PACKS)


def test_settings_choose_vendors_and_a_tenant_overrides_them(tmp_path):
    data_dir = tmp_path / "data"
    shutil.copytree(DATA / "kb", data_dir)
    settings = make_settings(tmp_path, data_dir=data_dir, vendor_packs_dir=FIXTURE_PACKS, erp_vendors="all")
    assert vocabulary_for_settings(settings).vendors == ("kingdee", "sap")
    assert vocabulary_for_settings(settings.model_copy(update={"erp_vendors": "none"})) is None
    # The tenant's own pack: its words, and its choice of vendors.
    (data_dir / TENANT_PACK).write_text(
        "vendor: tenant\nerp_vendors: [kingdee]\nwords: [星空单]\nconcepts:\n  purchase_receipt: [入仓单]\n",
        encoding="utf-8")
    vocabulary = vocabulary_for_settings(settings)
    assert vocabulary.vendors == ("kingdee", "tenant")
    assert "purchase_receipt" in vocabulary.term_concepts["入仓单"]
    assert "migo" not in vocabulary.term_concepts
    processor = TextProcessor.from_settings(settings)
    assert "星空单" in processor.tokenize("星空单打不开")


def test_the_same_pack_files_give_the_same_vocabulary_and_an_edited_pack_a_new_one(tmp_path):
    """Every rebuild asks for its tenant's vocabulary: compiled once while no file it is made from changes."""
    packs = tmp_path / "vendors"
    shutil.copytree(FIXTURE_PACKS, packs)
    settings = make_settings(tmp_path, vendor_packs_dir=packs, erp_vendors="sap")
    first = vocabulary_for_settings(settings)
    assert vocabulary_for_settings(settings) is first
    sap = packs / "sap.yaml"
    sap.write_text(sap.read_text(encoding="utf-8").replace("words: [移动类型, 库存地点]",
                                                           "words: [移动类型, 库存地点, 工厂日历]"), encoding="utf-8")
    edited = vocabulary_for_settings(settings)
    assert edited is not first and "工厂日历" in edited.words and "工厂日历" not in first.words
    assert vocabulary_for_settings(settings.model_copy(update={"erp_vendors": "kingdee"})).vendors == ("kingdee",)


def test_a_tenant_pack_may_name_a_concept_another_pack_introduced(tmp_path):
    """mrp_controller is a new concept of the SAP pack: a tenant that chose only 金蝶 may still use it (as
    load_vocabulary and the `vocab suggest --write` check allow), at server start and at build time too."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / TENANT_PACK).write_text("vendor: tenant\nerp_vendors: [kingdee]\nconcepts:\n  mrp_controller: [计划员]\n",
                                        encoding="utf-8")
    settings = make_settings(tmp_path, data_dir=data_dir, vendor_packs_dir=FIXTURE_PACKS, erp_vendors="all")
    vocabulary = vocabulary_for_settings(settings)
    assert vocabulary.vendors == ("kingdee", "tenant")
    assert vocabulary.term_concepts[normalize("计划员")] == ("mrp_controller",)


def test_tenant_pack_errors_name_the_tenant_file(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / TENANT_PACK).write_text("vendor: tenant\nconcepts:\n  nonsense: [乱码]\n", encoding="utf-8")
    settings = make_settings(tmp_path, data_dir=data_dir, vendor_packs_dir=FIXTURE_PACKS, erp_vendors="none")
    with pytest.raises(PackError, match=r"vocab\.yaml:3: unknown concept 'nonsense'"):
        vocabulary_for_settings(settings)


# Concept expansion over a real index ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_faq_builds(tmp_path_factory, embedder):
    """The demo FAQ (written in 金蝶/用友 words) built twice with the real embedder, FAISS and BM25: with the SAP
    and 金蝶 fixture packs, and with none."""
    from indexer.build import build_index
    from indexer.index import current_build_dir, load_index

    tmp = tmp_path_factory.mktemp("vocab_builds")
    data_dir = tmp / "kb"
    data_dir.mkdir()
    shutil.copy(ROOT / "data" / "demo" / "faq.csv", data_dir / "faq.csv")
    builds = {}
    for name, vendors in (("on", "sap,kingdee"), ("off", "none")):
        settings = make_settings(tmp / name, data_dir=data_dir, vendor_packs_dir=FIXTURE_PACKS, erp_vendors=vendors)
        processor = TextProcessor.from_settings(settings)
        build_index(settings, embedder=embedder, processor=processor)
        builds[name] = (load_index(current_build_dir(settings.index_dir), settings=settings), settings)
    return builds


def _top_source(build, embedder, question: str) -> str:
    from indexer.retrieval import FusionConfig, Retriever
    from indexer.vocab import Vocabulary

    index, settings = build
    block = index.manifest["lexical"]["vocabulary"]
    vocabulary = Vocabulary.load(index.path / block["file"]) if block else None
    retriever = Retriever(index, TextProcessor.from_settings(settings, vocabulary), embedder)
    hits = retriever.hybrid(question, 5, FusionConfig.from_settings(settings, index.manifest))
    return hits[0].chunk.uri.split("#")[0] if hits else ""


@pytest.mark.parametrize(("question", "source"), [
    # SAP's English UI names; the entry says 收料通知单 … 入库单 (金蝶).
    ("Inbound Delivery closed, cannot post Goods Receipt", "kb://faq/pur-005"),
    # SAP's display transaction of a purchase requisition; the entry says 采购申请 … 审批中.
    ("ME53N 看到一直没批", "kb://faq/pur-001"),
])
def test_question_in_sap_words_finds_the_entry_in_kingdee_words(demo_faq_builds, embedder, question, source):
    assert _top_source(demo_faq_builds["on"], embedder, question) == source
    assert _top_source(demo_faq_builds["off"], embedder, question) != source  # the packs made the difference


def test_build_keeps_its_vocabulary(demo_faq_builds):
    index, _ = demo_faq_builds["on"]
    block = index.manifest["lexical"]["vocabulary"]
    assert block["vendors"] == ["sap", "kingdee"]
    assert (index.path / block["file"]).is_file()
    assert demo_faq_builds["off"][0].manifest["lexical"]["vocabulary"] is None


def test_concept_weight_scales_concept_tokens_only():
    from indexer.lexical import LexicalIndex

    docs = [["收料", "通知单", "~receiving_notice"], ["采购", "订单"], ["调拨", "~stock_transfer"]]
    query = ["内向", "交货", "~receiving_notice"]
    off = LexicalIndex(concept_weight=0.0).fit(docs).scores(query)[1]
    assert off.max() == 0.0  # only the concept token matches; at weight 0 it counts for nothing
    half = LexicalIndex(concept_weight=0.5).fit(docs).scores(query)[1]
    full = LexicalIndex(concept_weight=1.0).fit(docs).scores(query)[1]
    assert half.argmax() == full.argmax() == 0
    assert 0 < half[0] < full[0]
    plain = LexicalIndex(concept_weight=0.5).fit(docs).scores(["采购"])[1]
    assert plain[1] == LexicalIndex(concept_weight=2.0).fit(docs).scores(["采购"])[1][1]


def test_assistant_reads_questions_with_its_builds_vocabulary(demo_faq_builds, embedder, trained_classifier_path):
    """A process configured without packs still serves a build made with them the way it was built (and the
    tenant's choice travels with its build)."""
    from assistant.service import Assistant

    index, settings = demo_faq_builds["on"]
    serving = settings.model_copy(update={"erp_vendors": "none", "classifier_path": trained_classifier_path,
                                          "off_topic_gate": False})
    assistant = Assistant(serving, embedder=embedder).load()
    assert assistant.processor.vocabulary is None
    assert assistant.serving.retriever.processor.vocabulary.vendors == ("sap", "kingdee")
    ranking = assistant.rank("Inbound Delivery closed, cannot post Goods Receipt")
    assert ranking.hits[0].chunk.uri.split("#")[0] == "kb://faq/pur-005"
