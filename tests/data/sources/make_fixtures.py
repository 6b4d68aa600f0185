"""Regenerate the binary fixtures (faq.xlsx, the SOP .docx) of tests/data/sources/kb.

Run from the project root: ``.venv/bin/python tests/data/sources/make_fixtures.py``. The text fixtures
next to them are written by hand.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import docx
from openpyxl import Workbook

KB = Path(__file__).resolve().parent / "kb"


def make_faq_xlsx(path: Path) -> None:
    workbook = Workbook()
    notes = workbook.active
    notes.title = "填写说明"
    notes.append(["说明"])
    notes.append(["每行一个问答；tags 和 alternates 用 | 分隔；module 填分类 id（finance、inventory …）"])
    faq = workbook.create_sheet("FAQ")
    faq.append(["id", "question", "answer", "module", "tags", "updated_at", "alternates"])
    faq.append([
        "inv-101",
        "出库单保存提示“库存不足”，但货架上明明有货？",
        "多半是对应的采购入库单还是“保存”状态没审核（如 RK-2024-1104-003），账面库存为 0。"
        "先在【库存管理→采购入库单】审核入库单，再保存出库单。仍不行请联系仓库主管 159 8765 4321。",
        "inventory",
        "出库|库存不足",
        datetime(2025, 1, 6),
        "发不了货 提示库存不足|出库单库存不足但有实物",
    ])
    faq.append([None, None, None, None, None, None, None])  # a formatted but empty row
    faq.append([
        2001,
        "盘点单审核后没有生成盘盈盘亏单？",
        "在【库存管理→参数设置】勾选“盘点审核自动生成盘盈盘亏单”，已审核的盘点单反审核后重新审核即可。",
        "仓储",
        "盘点",
        "2025-02-10",
        None,
    ])
    workbook.save(path)


def make_sop_docx(path: Path) -> None:
    document = docx.Document()
    document.add_heading("销售出库作业指导书", level=0)
    document.add_heading("一、适用范围", level=1)
    document.add_paragraph("本指导书适用于成品仓、配件仓根据销售订单发货的出库作业。")
    document.add_heading("二、操作步骤", level=1)
    document.add_heading("2.1 创建销售出库单", level=2)
    document.add_paragraph("在【库存管理→销售出库单】中选择“销售订单下推”，按拣货单核对物料编码"
                           "（如 MAT-000123）和数量。", style="List Number")
    document.add_paragraph("批次管理的物料必须选择批次号，否则保存时提示“批次不能为空”。", style="List Number")
    document.add_heading("2.2 审核与打印", level=2)
    document.add_paragraph("出库单审核后自动扣减库存并生成应收单，打印发货单交给司机签字。")
    document.add_heading("常见报错", level=3)
    table = document.add_table(rows=3, cols=3)
    for row, cells in zip(table.rows, [("报错信息", "原因", "处理"),
                                       ("库存不足", "入库单未审核", "先审核采购入库单"),
                                       ("批次不能为空", "批次管理物料未选批次", "在明细行选择批次号")]):
        for cell, text in zip(row.cells, cells):
            cell.text = text
    document.add_paragraph("系统问题请联系 IT：it-helpdesk@huarui-mfg.example，值班电话 139-1234-5678。")
    properties = document.core_properties
    properties.title = "销售出库作业指导书"
    properties.category = "inventory"
    properties.modified = datetime(2025, 3, 1, 9, 0, 0)
    document.save(path)


if __name__ == "__main__":
    make_faq_xlsx(KB / "faq.xlsx")
    make_sop_docx(KB / "sops" / "sop-inv-sales-outbound.docx")
