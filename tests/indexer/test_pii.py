import json

import pytest

from indexer.loaders import load_sources
from indexer.pii import mask_pii
from tests.conftest import DATA

SOURCES_KB = DATA / "sources" / "kb"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("着急的话打我手机13812345678，谢谢", "着急的话打我手机[手机号]，谢谢"),
        ("电话：138-1234-5678", "电话：[手机号]"),
        ("联系仓库主管 159 8765 4321。", "联系仓库主管 [手机号]。"),
        ("+86 138 1234 5678 或 0086-13812345678", "[手机号] 或 [手机号]"),
        ("身份证号 11010519491231002X 录错了", "身份证号 [身份证号] 录错了"),
        ("身份证440308199001011239", "身份证[身份证号]"),
        ("工资卡 6222 0212 3456 7890 123 被退票", "工资卡 [银行卡号] 被退票"),
        ("卡号6222021234567890123，开户行招行", "卡号[银行卡号]，开户行招行"),
        ("信用卡 4111 1111 1111 1111", "信用卡 [银行卡号]"),
        ("邮箱zhang.min@huarui-mfg.cn（财务部）", "邮箱[邮箱]（财务部）"),
        ("发到 13812345678@163.com 就行", "发到 [邮箱] 就行"),
    ],
)
def test_personal_data_is_replaced_by_labelled_placeholders(text, expected):
    assert mask_pii(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "采购订单 PO-2024-0315 收货后库存没增加",
        "物料 MAT-000123 的 BOM 版本不对",
        "入库单 RK-2024-1104-003 还是保存状态，调拨单 DB-2024-1113-002 已调出",
        "凭证日期 2024-11-04 09:12:30 落在已结账期间，错误码 10017",
        "金额 ¥13,800.00，汇率 7.1230，单笔超过 50,000.00 元需复核",
        "时间戳 1730683152000，批次号 1234567890123，工号 HR20241105",
        "11 位但不是手机号：12345678901；13 位：8613812345678",
        "数电发票号码 24442000000012345678",
        "美国号码 +16506913277 不是大陆手机号",
        "销售单号 SO-13812345678 和 AB13812345678",
        "T-code ME21N、F-02、F.13，@李工(ERP管理员) 请看下",
    ],
)
def test_erp_codes_dates_amounts_and_short_numbers_survive(text):
    assert mask_pii(text) == text


def test_masking_is_idempotent():
    once = mask_pii("手机 138-1234-5678，卡 6222 0212 3456 7890 123，邮箱 a.b@c.cn")
    assert mask_pii(once) == once


def test_no_personal_data_reaches_any_loaded_document():
    """Every fixture format carries some PII; none of it survives loading."""
    loaded = load_sources(SOURCES_KB, experts=frozenset({"李工", "王会计主管"}))
    dumped = json.dumps(
        [[d.title, d.text, d.metadata] for d in loaded.documents], ensure_ascii=False, default=str
    )
    for original in ["13812345678", "159 8765 4321", "11010519491231002X", "6222 0212 3456 7890 123",
                     "6217 0012 3456 7890 123", "it-helpdesk@huarui-mfg.example", "139-1234-5678"]:
        assert original not in dumped
    for placeholder in ["[手机号]", "[身份证号]", "[银行卡号]", "[邮箱]"]:
        assert placeholder in dumped
    assert "RK-2024-1104-003" in dumped and "MAT-000123" in dumped and "50,000.00" in dumped


def test_the_quick_pre_check_passes_nothing_the_four_patterns_would_mask():
    """mask_pii skips texts without an "@" or seven near-consecutive digits; on texts made of digits, spaces,
    hyphens, letters and Chinese it must give exactly what the four substitutions give."""
    import random

    from indexer import pii

    def four_substitutions(text: str) -> str:
        for pattern, label in ((pii._EMAIL, "email"), (pii._ID_CARD, "id_card"), (pii._BANK_CARD, "bank_card"),
                               (pii._MOBILE, "mobile")):
            text = pattern.sub(pii.PII_LABELS[label], text)
        return text

    rng = random.Random(7)

    def digits(n: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(n))

    pieces = [lambda: digits(rng.randint(1, 20)), lambda: "1" + rng.choice("3459") + digits(9),
              lambda: f"{rng.randint(110000, 659999)}19{digits(2)}{rng.randint(1, 12):02}{rng.randint(1, 28):02}"
                      f"{digits(3)}{rng.choice('0X')}",
              lambda: rng.choice(" -+@.xX号电话ab") * rng.randint(1, 2), lambda: "zhang.min@erp.cn"]
    texts = ["".join(rng.choice(pieces)() for _ in range(rng.randint(1, 6))) for _ in range(20_000)]
    labels_reached = {label for t in texts for label in pii.PII_LABELS.values() if label in four_substitutions(t)}
    assert labels_reached == set(pii.PII_LABELS.values())  # the sample reaches every kind of match
    assert [mask_pii(t) for t in texts] == [four_substitutions(t) for t in texts]
