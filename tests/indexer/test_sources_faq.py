import json

import pytest
from openpyxl import Workbook

from indexer.errors import SourceFormatError
from indexer.loaders import FaqColumns, load_faq, load_faq_csv, load_faq_jsonl, load_faq_xlsx
from tests.conftest import DATA

SOURCES = DATA / "sources"
ZH_COLUMNS = FaqColumns(id="编号", question="问题", answer="答案", module="模块", tags="标签",
                        updated_at="更新日期", alternates="相似问法")


def test_xlsx_reads_the_faq_sheet_and_ignores_the_instructions_sheet():
    docs = {d.source_id: d for d in load_faq_xlsx(SOURCES / "kb" / "faq.xlsx")}
    assert set(docs) == {"inv-101", "2001"}  # the empty row between them is skipped, 2001.0 stays "2001"
    inv = docs["inv-101"]
    assert inv.title == "出库单保存提示“库存不足”，但货架上明明有货？"
    assert inv.module == "inventory"
    assert inv.updated_at == "2025-01-06"  # an Excel date cell
    assert inv.metadata["tags"] == ["出库", "库存不足"]
    assert inv.metadata["alternates"] == ["发不了货 提示库存不足", "出库单库存不足但有实物"]
    assert "[手机号]" in inv.text and "159 8765 4321" not in inv.text
    assert inv.uri == "kb://faq/inv-101"


def test_a_module_outside_the_taxonomy_is_kept_as_source_module():
    loaded = load_faq_xlsx(SOURCES / "kb" / "faq.xlsx", modules={"inventory", "finance"})
    docs = {d.source_id: d for d in loaded}
    assert docs["2001"].module is None
    assert docs["2001"].metadata["source_module"] == "仓储"
    assert docs["2001"].metadata["alternates"] == []


def test_jsonl_takes_lists_or_pipe_strings():
    docs = {d.source_id: d for d in load_faq_jsonl(SOURCES / "kb" / "faq.jsonl")}
    assert docs["fin-201"].metadata["alternates"] == ["付款退票怎么处理", "报销打款失败重新付款"]
    assert docs["hr-201"].metadata["alternates"] == ["员工档案查不到", "入职单审批了没档案"]
    assert docs["hr-201"].metadata["tags"] == ["入职", "档案"]
    assert docs["hr-201"].module == "hr"
    assert "[身份证号]" in docs["hr-201"].text


def test_csv_with_chinese_headers_through_a_column_mapping():
    docs = load_faq_csv(SOURCES / "faq_zh_columns.csv", ZH_COLUMNS)
    assert [d.source_id for d in docs] == ["pur-301", "pur-302"]
    assert docs[0].metadata["alternates"] == ["审批过的采购单怎么改价格", "PO 改单价"]
    assert docs[0].updated_at == "2025-03-02" and docs[0].module == "purchasing"
    assert "\n导出格式为 Excel" in docs[1].text  # a quoted multi-line answer
    assert docs[1].metadata["alternates"] == []


def test_the_default_mapping_names_the_missing_columns():
    with pytest.raises(SourceFormatError, match=r"missing column\(s\) id, question, answer.*found 编号, 问题"):
        load_faq_csv(SOURCES / "faq_zh_columns.csv")


def test_column_mapping_rejects_unknown_fields():
    assert FaqColumns.from_mapping({"question": "问题"}).question == "问题"
    with pytest.raises(ValueError, match="unknown FAQ field.*valid fields are"):
        FaqColumns.from_mapping({"questoin": "问题"})


def test_csv_duplicate_reports_the_line_its_row_starts_on(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_text('id,question,answer\na,问1,"第一行\n第二行"\nb,问2,答2\na,问3,答3\n', encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"faq.csv:5: duplicate FAQ id 'a' \(first at .*faq.csv:2\)"):
        load_faq_csv(path)


def test_xlsx_duplicate_names_sheet_and_row(tmp_path):
    path = tmp_path / "faq.xlsx"
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "常见问题"
    for row in [("id", "question", "answer"), ("a", "问1", "答1"), ("b", "问2", "答2"), ("a", "问3", "答3")]:
        sheet.append(row)
    workbook.save(path)
    with pytest.raises(SourceFormatError, match=r"faq.xlsx\[常见问题\]:4: duplicate FAQ id 'a' "
                                                r"\(first at .*faq.xlsx\[常见问题\]:2\)"):
        load_faq_xlsx(path)


def test_xlsx_without_a_faq_sheet_lists_what_it_found(tmp_path):
    path = tmp_path / "faq.xlsx"
    workbook = Workbook()
    workbook.active.append(["编号", "问题", "答案"])
    workbook.save(path)
    with pytest.raises(SourceFormatError, match=r"no sheet has the column\(s\) id, question, answer.*编号, 问题"):
        load_faq_xlsx(path)


def test_jsonl_duplicate_and_bad_lines_are_reported_with_line_numbers(tmp_path):
    path = tmp_path / "faq.jsonl"
    rows = [{"id": "a", "question": "问1", "answer": "答1"}, {"id": "a", "question": "问2", "answer": "答2"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"faq.jsonl:2: duplicate FAQ id 'a'"):
        load_faq_jsonl(path)
    path.write_text('{"id": "a", "question": "问1", "answer": "答1"}\n{"id": "b", "question": ""}\n',
                    encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"faq.jsonl:2: missing column\(s\) answer"):
        load_faq_jsonl(path)


def test_gb18030_csv_from_chinese_excel_is_readable(tmp_path):
    path = tmp_path / "faq.csv"
    path.write_bytes("id,question,answer\nfin-9,凭证怎么反过账？,在凭证查询里选中凭证点“反过账”。\n".encode("gb18030"))
    assert load_faq(path)[0].title == "凭证怎么反过账？"


def test_a_file_that_is_not_a_workbook_is_rejected(tmp_path):
    path = tmp_path / "faq.xlsx"
    path.write_text("id,question,answer\n", encoding="utf-8")
    with pytest.raises(SourceFormatError, match="faq.xlsx: not a readable XLSX workbook"):
        load_faq(path)
