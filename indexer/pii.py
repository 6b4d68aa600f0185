"""Mask personal data in source text before it is indexed.

Support groups paste phone numbers, ID-card numbers, e-mail addresses and bank-card numbers into questions
("报销打到卡号 6222 0212 3456 7890 123"); none of them may reach the index, the drafts or the API. Each is
replaced by a labelled placeholder, so a reader still sees that a phone number was there:

==============  ==========================================================  ============
placeholder     what                                                        example
==============  ==========================================================  ============
``[邮箱]``       e-mail addresses                                            zhangmin@huarui-mfg.cn
``[身份证号]``   18-digit resident ID numbers (region, birth date, X last)   11010519491231002X
``[银行卡号]``   16–19 digit card numbers, bare or in groups of four         6222 0212 3456 7890
``[手机号]``     mainland mobile numbers, also +86 / 3-4-4 grouped           138-1234-5678
==============  ==========================================================  ============

What must survive: ERP codes (PO-2024-0315, MAT-000123, RK-2024-1104-003), dates, amounts, error codes
(10017), 13-digit millisecond timestamps and any number of 15 digits or fewer that is not a mobile number.
Numbers are only matched whole — never inside a longer run of digits, letters or a hyphenated code — so a
20-digit e-invoice number survives too. The ID checksum is not required: a mistyped ID number is still
personal data. Any other 16–19 digit number is taken for a card number; that includes 18–19 digit online-shop
order numbers, which are rare in ERP groups and cost little to lose.
"""

from __future__ import annotations

import re

__all__ = ["PII_LABELS", "mask_pii"]

PII_LABELS = {"email": "[邮箱]", "id_card": "[身份证号]", "bank_card": "[银行卡号]", "mobile": "[手机号]"}

# ASCII-only boundaries: Chinese characters may touch a number ("电话13812345678"), but letters, digits,
# "_" and "-" may not, so document numbers like SO-13812345678 or AB13812345678 are left alone.
_BEFORE = r"(?<![0-9A-Za-z_\-])"
_AFTER = r"(?![0-9A-Za-z_])"

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9][A-Za-z0-9._%+-]*"  # local part
    r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![A-Za-z])"  # domain
)
# 18 characters: 6-digit region, birth date 18xx–20xx, 3-digit sequence, check digit or X.
_ID_CARD = re.compile(
    _BEFORE + r"[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]" + _AFTER
)
# Bare 16–19 digits, or groups of four separated by single spaces (the last group 1–4 digits).
_BANK_CARD = re.compile(_BEFORE + r"(?:\d{16,19}|\d{4}(?: \d{4}){2,3} \d{1,4})" + _AFTER)
# Mainland mobiles, optionally +86/0086/86-prefixed and 3-4-4 grouped. "+1650…" is a foreign number
# that only starts like a mainland mobile, hence "+" in the look-behind.
_MOBILE = re.compile(
    r"(?<![0-9A-Za-z_\-+])(?:(?:\+|00)86[ -]?|86[ -])?1[3-9]\d(?:[ -]?\d{4}){2}" + _AFTER
)


# Every match of the four patterns contains an "@" or seven digits with at most one space or hyphen among them:
# one scan for that passes most texts (a build masks every FAQ and chat text) without the four substitutions.
_CANDIDATE = re.compile(r"@|\d{3}[ -]?\d{4}")


def mask_pii(text: str) -> str:
    """``text`` with e-mails, ID-card, bank-card and mobile numbers replaced by labelled placeholders."""
    if not text or not _CANDIDATE.search(text):
        return text
    text = _EMAIL.sub(PII_LABELS["email"], text)
    text = _ID_CARD.sub(PII_LABELS["id_card"], text)
    text = _BANK_CARD.sub(PII_LABELS["bank_card"], text)
    return _MOBILE.sub(PII_LABELS["mobile"], text)
