from collections import Counter
from datetime import datetime

import docx
import pytest

from indexer.chunking import chunk_document
from indexer.errors import SourceFormatError
from indexer.loaders import (
    default_module_ids,
    load_sop,
    load_sop_docx,
    load_sop_markdown,
    load_sop_text,
    load_sop_tree,
)
from tests.conftest import DATA, requires_shared

SOPS = DATA / "sources" / "kb" / "sops"


def test_docx_headings_lists_and_tables_become_markdown():
    doc = load_sop_docx(SOPS / "sop-inv-sales-outbound.docx", SOPS)
    assert doc.source_id == "sop-inv-sales-outbound"
    assert doc.title == "销售出库作业指导书"  # core properties
    assert doc.module == "inventory"  # the "category" property
    assert doc.updated_at == "2025-03-01"
    lines = doc.text.splitlines()
    assert "# 一、适用范围" in lines and "## 2.1 创建销售出库单" in lines and "### 常见报错" in lines
    assert any(line.startswith("- 批次管理的物料必须选择批次号") for line in lines)
    assert "库存不足 | 入库单未审核 | 先审核采购入库单" in lines
    assert "[邮箱]" in doc.text and "[手机号]" in doc.text and "MAT-000123" in doc.text


def test_docx_chunks_keep_their_heading_path():
    chunks = chunk_document(load_sop_docx(SOPS / "sop-inv-sales-outbound.docx", SOPS), chunk_size=120,
                            chunk_overlap=10)
    step = next(c for c in chunks if "销售订单下推" in c.text)
    assert step.title == "销售出库作业指导书 > 二、操作步骤 > 2.1 创建销售出库单"
    assert step.uri == "kb://sop/sop-inv-sales-outbound#2-1-创建销售出库单"
    errors = next(c for c in chunks if "批次管理物料未选批次" in c.text)
    assert errors.anchor == "常见报错"


def test_docx_title_falls_back_to_the_first_heading(tmp_path):
    path = tmp_path / "月结.docx"
    document = docx.Document()
    document.add_heading("月末结账检查清单", level=1)
    document.add_paragraph("结账前确认所有凭证已审核、已过账，存货核算已完成。")
    document.core_properties.modified = datetime(2025, 4, 2, 8, 0)
    document.save(path)
    doc = load_sop(path)
    assert doc.title == "月末结账检查清单" and doc.module is None and doc.updated_at == "2025-04-02"


def test_damaged_docx_is_a_source_format_error(tmp_path):
    path = tmp_path / "broken.docx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(SourceFormatError, match="broken.docx: not a readable DOCX document"):
        load_sop_docx(path)


def test_plain_text_sop_gets_a_title_and_chinese_numbered_headings():
    doc = load_sop_text(SOPS / "sop-fin-expense-payment.txt", SOPS)
    assert doc.title == "费用报销付款操作规范"
    lines = doc.text.splitlines()
    assert lines[0] == "# 费用报销付款操作规范"
    assert "## 二、操作步骤" in lines and "### （二）付款退回处理" in lines
    assert "[银行卡号]" in doc.text and "50,000.00" in doc.text and "2025-12-31" in doc.text
    chunk = next(c for c in chunk_document(doc) if "付款退回" in c.text)
    assert chunk.title == "费用报销付款操作规范 > 二、操作步骤 > （二）付款退回处理"


def test_plain_text_in_gb18030_without_a_title_line(tmp_path):
    path = tmp_path / "盘点须知.txt"
    path.write_bytes("盘点期间冻结库位，禁止出入库。盘点结束后由仓库主管审核盘点单。\n".encode("gb18030"))
    doc = load_sop_text(path)
    assert doc.title == "盘点须知" and doc.text.startswith("盘点期间冻结库位")


def test_markdown_sphinx_roles_and_foreign_modules(tmp_path):
    path = tmp_path / "bank.md"
    path.write_text(
        "---\ntitle: \"**银行对账单**\"\nmodule: inventory_and_mrp\n"
        "source_url: https://docs.example/bank.html\n---\n"
        "# 银行对账单\n进入 :menuselection:`会计 --> 配置 --> 设置`，点击 :guilabel:`保存`。"
        "详见 :ref:`数据库选项 <reference/cmdline/server/database>` 和 :doc:`bank_synchronization`。\n",
        encoding="utf-8",
    )
    doc = load_sop_markdown(path, tmp_path, modules=default_module_ids())
    assert doc.title == "银行对账单"
    assert "进入 会计 → 配置 → 设置，点击 保存。详见 数据库选项 和 bank_synchronization。" in doc.text
    assert doc.module is None and doc.metadata["source_module"] == "inventory_and_mrp"
    assert doc.url == "https://docs.example/bank.html"


def test_sop_tree_skips_bad_pages_with_their_reason(tmp_path):
    (tmp_path / "finance").mkdir()
    (tmp_path / "finance" / "close.md").write_text("---\ntitle: 月结\nmodule: finance\n---\n# 月结\n先过账再结账。\n",
                                                  encoding="utf-8")
    (tmp_path / "finance" / "empty.md").write_text("---\ntitle: 空\n---\n", encoding="utf-8")
    (tmp_path / "~$draft.docx").write_bytes(b"lock file")  # Office lock files are not documents
    loaded = load_sop_tree(tmp_path)
    assert [d.source_id for d in loaded.documents] == ["finance/close"]
    assert loaded.documents[0].module == "finance"
    assert [(s.path.split("/")[-1], "no text" in s.reason) for s in loaded.skipped] == [("empty.md", True)]


@pytest.mark.shared_data
def test_odoo16_zh_docs_load_as_sop_documents_with_source_urls():
    root = requires_shared("odoo16-zh-docs")
    loaded = load_sop_tree(root)
    assert len(loaded.documents) == 207 and not loaded.skipped
    base = "https://www.odoo.com/documentation/16.0/zh_CN/"
    assert all(d.url and d.url.startswith(base) for d in loaded.documents)
    by_id = {d.source_id: d for d in loaded.documents}
    page = by_id["applications/finance/accounting/bank/feeds/bank_statements"]
    assert page.title == "银行对账单" and page.module == "finance"
    assert page.url.endswith("/applications/finance/accounting/bank/feeds/bank_statements.html")
    taxonomy = default_module_ids()
    assert {d.module for d in loaded.documents} - {None} <= taxonomy
    foreign = Counter(d.metadata["source_module"] for d in loaded.documents if d.module is None)
    assert foreign["inventory_and_mrp"] == 45 and "finance" not in foreign
    assert sum(":menuselection:" in d.text for d in loaded.documents) == 0
