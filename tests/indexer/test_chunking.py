import re

from erp_assist.domain import SourceType
from indexer.chunking import chunk_document, slugify
from indexer.loaders import load_faq_csv, load_sop_markdown
from tests.conftest import TINY_KB


def test_slugify_keeps_chinese():
    assert slugify("3.1 创建采购订单") == "3-1-创建采购订单"


def test_sop_chunks_carry_heading_path_and_anchor():
    doc = load_sop_markdown(TINY_KB / "sops" / "sop-test-receipt.md")
    assert doc.url == "https://kb.example.test/sop/sop-test-receipt"
    chunks = chunk_document(doc, chunk_size=120, chunk_overlap=10)
    assert len(chunks) >= 4
    titles = [c.title for c in chunks]
    assert any("操作步骤 > 1. 创建收料通知单" in t for t in titles)
    receipt = next(c for c in chunks if "MIGO" in c.text)
    assert receipt.anchor == "3-生成采购入库单"
    assert receipt.uri == "kb://sop/sop-test-receipt#3-生成采购入库单"
    assert receipt.url.endswith("#3-生成采购入库单")


def test_no_empty_heading_only_or_duplicate_chunks():
    doc = load_sop_markdown(TINY_KB / "sops" / "sop-test-receipt.md")
    chunks = chunk_document(doc, chunk_size=60, chunk_overlap=0)
    texts = [c.text for c in chunks]
    assert all(len(re.findall(r"[\w\u4e00-\u9fff]", t)) >= 8 for t in texts)
    assert not any(t.lstrip().startswith("#") for t in texts)
    assert len({c.id for c in chunks}) == len(chunks)


def test_chunk_ids_are_stable_content_hashes():
    doc = load_sop_markdown(TINY_KB / "sops" / "sop-test-receipt.md")
    first = [c.id for c in chunk_document(doc)]
    second = [c.id for c in chunk_document(doc)]
    assert first == second


def test_faq_is_one_chunk_with_question_as_title():
    docs = load_faq_csv(TINY_KB / "faq.csv")
    chunk = chunk_document(docs[0])[0]
    assert chunk.source_type is SourceType.FAQ
    assert chunk.title == docs[0].title and chunk.text == docs[0].text
    assert chunk.uri == "kb://faq/t-fin-1"
