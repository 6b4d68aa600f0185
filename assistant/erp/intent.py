"""Does a question ask for live ERP data, and about what?

A lookup needs a target the ERP can be asked about — an item or document code (``A-1002``, ``PO-2024-0315``,
``B20250728-003``; the tokenizer keeps such codes whole) or a supplier/customer the ERP knows — and words that
ask for its current state (库存、到哪一步、发货了吗 …). A how-to question (怎么审批、如何、报错、设置 …)
never triggers a lookup, even when it names a code: "PO-2024-0315 怎么审批" is a question for the knowledge base.

Pure functions of the text (and the party names the ERP gave); the words are data, not buried in the logic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from assistant.erp.types import PartyRef

__all__ = ["LookupKind", "LookupIntent", "detect_intent", "code_candidates", "party_aliases", "may_name_party",
           "HOW_TO_WORDS"]


class LookupKind(StrEnum):
    STOCK = "stock"
    DOCUMENT = "document"
    ITEM_INFO = "item_info"
    PARTY_ORDERS = "party_orders"


@dataclass(frozen=True)
class LookupIntent:
    kind: LookupKind
    target: str  # the code or number as asked (normalized), or the party's code
    candidates: tuple[str, ...] = ()  # spellings to try, first the asked one (a typo tolerance, never a guess)
    party_name: str | None = None


# A code: letters, then digits, with hyphens between groups (A-1002, PO-2024-0315, B20250728-003, E-100); also
# the typos people make: lower case, a missing hyphen (a1002, PO2024-0315), full-width hyphens.
_CODE = re.compile(r"(?<![A-Za-z0-9])([A-Za-z]{1,4})([-_ ]?)(\d[0-9]*(?:[-_]\d+)*)(?![A-Za-z0-9.])")
# Written without a hyphen, these are sizes and SAP transaction / condition codes, not items or documents:
# M8, P1, MD04, VA01, PR00, MB51 …
_NOT_CODES = re.compile(r"^(M\d+|S\d|V\d+|P[123]|Q[1-4]|T\d|[A-Z]\d{1,2}|[A-Z]{2,4}\d{2,3})$")
_DOCUMENT_PREFIXES = ("PO", "SO", "OUT", "IN", "DN", "GR", "PR", "SH")

HOW_TO_WORDS = ("怎么", "怎样", "如何", "怎么样", "怎麼", "咋", "为什么", "为何", "步骤", "流程", "操作",
                "设置", "配置", "报错", "提示", "错误", "失败", "无法", "不能", "不了", "权限", "在哪里", "在哪个菜单",
                "哪个菜单", "教程", "方法", "可以吗", "能不能", "how", "why", "error", "setup", "是否可以", "需要什么",
                "有什么区别", "区别", "规则", "审批流", "模板", "导入", "导出", "打印", "撤销", "反审核", "删除", "修改",
                "录入", "新建", "创建", "取消审核",
                # asking for advice, or about changing a document, not for its state
                "会不会", "行不行", "能否", "可不可以", "要不要", "该不该", "算不算", "改不动", "改不了", "作废",
                "录错", "变更", "改单价", "改数量", "冲销", "退回")
# "How" words that ask about a state: "怎么还没到货", "进度如何".
_STATE_ASKS = ("怎么还没", "怎么还不", "怎么样了", "进度如何", "情况如何", "状态如何", "进展如何")
# Words that ask for the live state of a code, by what is asked.
_STOCK_WORDS = ("库存", "多少", "剩", "有货", "现存", "可用", "在库", "库里", "仓里", "缺货", "存量", "够不够",
                "够用", "还有", "几个", "几件", "几箱", "stock", "数量", "结存", "余量", "存货", "还剩", "有没有货",
                "快没了", "没了", "账面", "缺不缺", "断货")
_DOCUMENT_WORDS = ("到哪", "哪一步", "哪步", "状态", "进度", "审批了", "批了", "审了", "发货了", "发了没", "发出",
                   "到货", "收货了", "到了没", "到没到", "什么情况", "情况", "怎么样了", "好了没", "完成了", "走到",
                   "卡在", "处理了", "确认了", "进展", "status", "在途", "送到", "出库了", "有没有", "查一下", "查下", "查查",
                   "看看", "看下", "帮我查")
_INFO_WORDS = ("物料信息", "主数据", "是什么", "叫什么", "名称", "单位", "规格", "什么东西", "哪个物料", "信息",
               "资料", "品名", "单价", "价格", "售价", "是啥", "啥东西", "什么料")
_PARTY_WORDS = ("订单", "采购单", "销售单", "单子", "未完成", "在途", "没到", "没发", "未交", "欠", "还有哪些",
                "有哪些", "哪些单", "几张", "多少单", "open", "未结", "待收", "待发")
_LEGAL_SUFFIXES = ("有限责任公司", "股份有限公司", "有限公司", "公司", "厂", "集团")
_CITIES = ("北京", "上海", "天津", "重庆", "广州", "深圳", "杭州", "南京", "苏州", "武汉", "成都", "西安")


def code_candidates(raw_letters: str, separator: str, raw_digits: str) -> tuple[str, ...]:
    """Spellings of a code to try: as written (upper case), then with the hyphen after the letters added or
    dropped — the one typo people make with codes. The answer names the code that was found."""
    letters, digits = raw_letters.upper(), raw_digits.replace("_", "-")
    written = f"{letters}{'-' if separator else ''}{digits}"
    toggled = f"{letters}{digits}" if separator else f"{letters}-{digits}"
    return (written, toggled)


def _codes(text: str) -> list[tuple[str, tuple[str, ...]]]:
    text = text.replace("－", "-").replace("—", "-").replace("–", "-")
    found = []
    for match in _CODE.finditer(text):
        letters, separator, digits = match.group(1), match.group(2), match.group(3)
        candidates = code_candidates(letters, separator, digits)
        if _NOT_CODES.match(f"{letters.upper()}{digits}") and "-" not in match.group(0):
            continue
        if len(digits.replace("-", "")) < 2:
            continue
        found.append((candidates[0], candidates))
    return found


@lru_cache(maxsize=100_000)  # asked for every party on every supplier/customer question; parties change rarely
def party_aliases(party: PartyRef) -> frozenset[str]:
    """How people name a supplier or customer: the full name, without the legal suffix, without the city in
    front, its first two and four characters, and its code."""
    names = {party.name}
    core = party.name
    for suffix in _LEGAL_SUFFIXES:
        if core.endswith(suffix) and len(core) > len(suffix) + 1:
            core = core[: -len(suffix)]
            break
    names.add(core)
    for city in _CITIES:
        if core.startswith(city) and len(core) > len(city) + 1:
            core = core[len(city):]
            names.add(core)
    names.update(core[:n] for n in (2, 4) if len(core) >= n)  # "宏达", "宏达包装"
    if party.code and len(party.code) >= 3:
        names.add(party.code)
    return frozenset(n for n in names if len(n) >= 2)


def _prefix(code: str) -> str:
    return re.match(r"[A-Z]*", code).group()  # type: ignore[union-attr] - [A-Z]* always matches


def _has(text: str, words: Iterable[str]) -> bool:
    return any(w in text for w in words)


def is_how_to(text: str) -> bool:
    lowered = text.lower()
    if any(p in lowered for p in _STATE_ASKS):
        return False  # "怎么还没到货", "进度如何": asking about a state, not how to do something
    return _has(lowered, HOW_TO_WORDS)


def may_name_party(text: str) -> bool:
    """Whether ``text`` could be a supplier/customer question: only then are the ERP's party names needed."""
    lowered = text.lower()
    return not is_how_to(lowered) and (_has(lowered, _PARTY_WORDS) or _has(lowered, _DOCUMENT_WORDS))


def detect_intent(text: str, parties: Iterable[PartyRef] = (),
                  extra_aliases: dict[str, str] | None = None) -> LookupIntent | None:
    """The lookup a question asks for, or None (a how-to question, or no code/party, or no asking words)."""
    lowered = text.lower()
    if is_how_to(lowered):
        return None
    parties = list(parties)
    party_codes = {p.code.upper().replace("-", "") for p in parties if p.code}
    codes = [(c, cs) for c, cs in _codes(text) if c.replace("-", "") not in party_codes]
    for code, candidates in codes:
        if _prefix(code) in _DOCUMENT_PREFIXES and (_has(lowered, _DOCUMENT_WORDS) or _has(lowered, _STOCK_WORDS)
                                              or _has(lowered, ("?", "？", "呢", "吗"))):
            return LookupIntent(LookupKind.DOCUMENT, code, candidates)
    for code, candidates in codes:
        if _prefix(code) in _DOCUMENT_PREFIXES:
            continue
        if _has(lowered, _INFO_WORDS):
            return LookupIntent(LookupKind.ITEM_INFO, code, candidates)
        if _has(lowered, _STOCK_WORDS):
            return LookupIntent(LookupKind.STOCK, code, candidates)
    if _has(lowered, _PARTY_WORDS) or _has(lowered, _DOCUMENT_WORDS):
        best: tuple[int, PartyRef] | None = None
        aliases = {alias: party for party in parties for alias in party_aliases(party)}
        by_code = {p.code: p for p in parties}
        for alias, code in (extra_aliases or {}).items():
            if code in by_code:
                aliases[alias] = by_code[code]
        for alias, party in aliases.items():
            if alias.lower() in lowered and (best is None or len(alias) > best[0]):
                best = (len(alias), party)
        if best is not None:
            return LookupIntent(LookupKind.PARTY_ORDERS, best[1].code, (best[1].code,), best[1].name)
    return None
