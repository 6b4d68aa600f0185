"""Lookup intent on hand-worked cases: live-data questions fire with the right target, how-to never does."""

from __future__ import annotations

import pytest

from assistant.erp.intent import LookupKind, detect_intent, party_aliases
from assistant.erp.types import PartyRef

PARTIES = [PartyRef("S001", "华东五金有限公司"), PartyRef("S002", "宏达包装材料厂"),
           PartyRef("C001", "北京恒信机械有限公司")]


@pytest.mark.parametrize("question, kind, target", [
    ("A-1002 还有多少库存", LookupKind.STOCK, "A-1002"),
    ("PO-2024-0315 到哪一步了", LookupKind.DOCUMENT, "PO-2024-0315"),
    ("po2024-0315到货了吗", LookupKind.DOCUMENT, "PO2024-0315"),
    ("B20250728-003 库存多少", LookupKind.STOCK, "B20250728-003"),
    ("E-100 叫什么名字", LookupKind.ITEM_INFO, "E-100"),
    ("宏达还有几张单没到", LookupKind.PARTY_ORDERS, "S002"),
    ("恒信的订单发了没", LookupKind.PARTY_ORDERS, "C001"),
    ("S001 还有哪些订单", LookupKind.PARTY_ORDERS, "S001"),  # a party code is not an item code
    ("SO-2024-0101 怎么样了", LookupKind.DOCUMENT, "SO-2024-0101"),  # "怎么样了" asks for a state
    ("PO-2024-0319 进展如何", LookupKind.DOCUMENT, "PO-2024-0319"),  # so does "进展如何"
    ("D-3005 是不是快断货了", LookupKind.STOCK, "D-3005"),
    ("F-0007 是啥", LookupKind.ITEM_INFO, "F-0007"),
])
def test_live_data_questions_fire(question, kind, target):
    intent = detect_intent(question, PARTIES)
    assert intent is not None and intent.kind is kind and intent.target == target


def test_a_typo_tries_the_other_spelling_too():
    assert detect_intent("a1002 还剩几个").candidates == ("A1002", "A-1002")
    assert detect_intent("A-1002 还剩几个").candidates == ("A-1002", "A1002")


@pytest.mark.parametrize("question", [
    "采购订单怎么审批", "PO-2024-0315 怎么审批", "如何查询即时库存", "A-1002 的安全库存在哪里设置",
    "出库时提示库存不足怎么办", "宏达的采购订单怎么取消", "MD04 里可用量是负的算缺料吗", "VA01 下单带不出价格",
    "M8 螺栓的库存单位怎么换算", "今天天气不错", "库存还有多少",  # no code, no party: nothing to look up
])
def test_how_to_and_codeless_questions_never_fire(question):
    assert detect_intent(question, PARTIES) is None


def test_party_aliases_are_the_names_people_use():
    assert {"恒信", "恒信机械", "北京恒信机械", "北京恒信机械有限公司", "C001"} <= party_aliases(PARTIES[2])
    assert "宏达" in party_aliases(PARTIES[1])
