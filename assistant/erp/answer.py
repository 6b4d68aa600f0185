"""Lookup results as the sentence the group reads: what was looked up, in which ERP, and when.

"截至 10:42，A-1002 六角螺栓 M8×30 在 主仓 可用 37 个，二号仓 120 个（合计 157 个）". An unknown code and an
unreachable ERP are said plainly; nothing is ever estimated.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from assistant.erp.intent import LookupIntent, LookupKind
from assistant.erp.types import (
    DeliveryState,
    DocumentKind,
    DocumentState,
    DocumentStatus,
    ItemInfo,
    ItemStock,
    PartyOrders,
)

__all__ = ["UNIT_LABELS", "format_stock", "format_document", "format_item", "format_party_orders",
           "format_not_found", "format_unreachable", "format_not_allowed", "format_rate_limited", "clock"]

# ERP unit symbols as the groups say them.
UNIT_LABELS = {"u": "个", "unit": "个", "pcs": "个", "pc": "个", "ea": "个", "kg": "千克", "g": "克", "t": "吨",
               "m": "米", "cm": "厘米", "l": "升", "ml": "毫升", "box": "箱", "h": "小时"}
_KIND = {DocumentKind.PURCHASE: "采购订单", DocumentKind.SALE: "销售订单", DocumentKind.SHIPMENT_OUT: "出库单"}
_STATE = {
    DocumentKind.PURCHASE: {DocumentState.DRAFT: "草稿", DocumentState.AWAITING_APPROVAL: "待审批（已报价，未确认）",
                            DocumentState.CONFIRMED: "已审批确认", DocumentState.IN_PROGRESS: "执行中",
                            DocumentState.DONE: "已完成", DocumentState.CANCELLED: "已取消"},
    DocumentKind.SALE: {DocumentState.DRAFT: "草稿", DocumentState.AWAITING_APPROVAL: "报价待客户确认",
                        DocumentState.CONFIRMED: "已确认", DocumentState.IN_PROGRESS: "执行中",
                        DocumentState.DONE: "已完成", DocumentState.CANCELLED: "已取消"},
    DocumentKind.SHIPMENT_OUT: {DocumentState.DRAFT: "草稿", DocumentState.CONFIRMED: "等待备货",
                                DocumentState.IN_PROGRESS: "拣货/打包中", DocumentState.DONE: "已发货",
                                DocumentState.CANCELLED: "已取消", DocumentState.AWAITING_APPROVAL: "待确认"},
}
_DELIVERY = {
    DocumentKind.PURCHASE: {DeliveryState.WAITING: "等待收货", DeliveryState.PARTIAL: "部分收货",
                            DeliveryState.DONE: "已全部收货", DeliveryState.EXCEPTION: "收货异常"},
    DocumentKind.SALE: {DeliveryState.WAITING: "等待发货", DeliveryState.PARTIAL: "部分发货",
                        DeliveryState.DONE: "已全部发货", DeliveryState.EXCEPTION: "发货异常"},
}


def unit_label(symbol: str) -> str:
    return UNIT_LABELS.get(symbol.lower(), symbol)


def clock(moment: datetime, utc_offset_hours: float) -> str:
    """"10:42" in the group's time zone (or "12-05 10:42" when not today there)."""
    local = moment.astimezone(timezone(timedelta(hours=utc_offset_hours)))
    today = datetime.now(local.tzinfo).date()
    return local.strftime("%H:%M") if local.date() == today else local.strftime("%m-%d %H:%M")


def _qty(value: float) -> str:
    return f"{value:g}"


def format_stock(stock: ItemStock, *, utc_offset_hours: float, asked: str | None = None) -> str:
    unit = unit_label(stock.unit)
    at = clock(stock.as_of, utc_offset_hours)
    spelled = f"（按 {stock.code} 查询，您输入的是 {asked}）" if asked and asked != stock.code else ""
    if not stock.levels or all(level.on_hand == 0 for level in stock.levels):
        return f"截至 {at}，{stock.code} {stock.name} 在各仓库均无库存（0 {unit}）。{spelled}"
    parts = []
    for level in stock.levels:
        if level.on_hand == 0 and level.forecast == 0:
            continue
        text = f"{level.warehouse} 可用 {_qty(level.on_hand)} {unit}"
        if level.on_hand < 0:
            text = f"{level.warehouse} 账面 {_qty(level.on_hand)} {unit}（负库存，请核查）"
        if level.forecast != level.on_hand:
            text += f"（预计 {_qty(level.forecast)} {unit}）"
        parts.append(text)
    total = f"，合计 {_qty(stock.on_hand)} {unit}" if len(parts) > 1 else ""
    return f"截至 {at}，{stock.code} {stock.name} 在 " + "，".join(parts) + total + "。" + spelled


def format_item(item: ItemInfo, *, utc_offset_hours: float, as_of: datetime) -> str:
    facts = [f"名称 {item.name}", f"单位 {unit_label(item.unit)}"]
    if item.kind:
        facts.append({"goods": "类型 库存物料", "service": "类型 服务", "assets": "类型 资产"}.get(item.kind,
                                                                                                  f"类型 {item.kind}"))
    if item.list_price is not None:
        facts.append(f"销售价 {item.list_price:g}")
    if item.purchasable is not None:
        facts.append("可采购" if item.purchasable else "不可采购")
    if item.salable is not None:
        facts.append("可销售" if item.salable else "不可销售")
    return f"截至 {clock(as_of, utc_offset_hours)}，ERP 物料 {item.code}：" + "，".join(facts) + "。"


def _document_state(doc: DocumentStatus) -> str:
    state = _STATE[doc.kind][doc.state]
    delivery = _DELIVERY.get(doc.kind, {}).get(doc.delivery)
    if delivery and doc.state in (DocumentState.IN_PROGRESS, DocumentState.CONFIRMED):
        state += f"，{delivery}"
    return state


def format_document(doc: DocumentStatus, *, utc_offset_hours: float, asked: str | None = None) -> str:
    at = clock(doc.as_of or datetime.now(timezone.utc), utc_offset_hours)
    who = {DocumentKind.PURCHASE: "供应商", DocumentKind.SALE: "客户", DocumentKind.SHIPMENT_OUT: "客户"}[doc.kind]
    when = {DocumentKind.SHIPMENT_OUT: "计划发货日"}.get(doc.kind, "下单日期")
    text = f"截至 {at}，{_KIND[doc.kind]} {doc.number} 状态：{_document_state(doc)}（{who} {doc.party}"
    if doc.date:
        text += f"，{when} {doc.date.isoformat()}"
    if doc.origin:
        text += f"，来源 {doc.origin}"
    text += "）。"
    if doc.lines:
        text += "明细：" + "；".join(f"{line.code} {line.name} × {_qty(line.quantity)} {unit_label(line.unit)}"
                                   for line in doc.lines[:5]) + "。"
    if asked and asked != doc.number:
        text += f"（按 {doc.number} 查询，您输入的是 {asked}）"
    return text


def format_party_orders(orders: PartyOrders, *, utc_offset_hours: float) -> str:
    at = clock(orders.as_of or datetime.now(timezone.utc), utc_offset_hours)
    if not orders.purchases and not orders.sales:
        return f"截至 {at}，{orders.party.name} 没有未完成的采购或销售订单。"
    parts = []
    if orders.purchases:
        parts.append(f"未完成采购订单 {len(orders.purchases)} 张：" + "；".join(
            f"{d.number}（{_document_state(d)}）" for d in orders.purchases))
    if orders.sales:
        parts.append(f"未完成销售订单 {len(orders.sales)} 张：" + "；".join(
            f"{d.number}（{_document_state(d)}）" for d in orders.sales))
    return f"截至 {at}，{orders.party.name} " + "；".join(parts) + "。"


def format_not_found(intent: LookupIntent) -> str:
    what = {LookupKind.DOCUMENT: "单据", LookupKind.PARTY_ORDERS: "往来单位"}.get(intent.kind, "物料")
    return f"ERP 中没有编号为 {intent.target} 的{what}，请核对编号后再问（我不会猜测相近的编号）。"


def format_unreachable() -> str:
    return "暂时连不上 ERP，没有查到实时数据，请稍后再问或直接在 ERP 中查看。"


def format_not_allowed(intent: LookupIntent) -> str:
    return f"本群的 ERP 查询范围不包括这类信息（{intent.kind.value}），请直接在 ERP 中查看或联系管理员。"


def format_rate_limited() -> str:
    return "您查询 ERP 太频繁了，请一分钟后再问。"
