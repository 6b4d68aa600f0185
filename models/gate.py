"""The off-topic gate: is a group message a question about work in the ERP, or chatter?

Most of what an ERP group posts is not a question for the bot: greetings, "收到", lunch, notices, questions about
the e-mail or the chat app. Such a message gets no drafts, no urgency above P3 and no page. The gate is a
logistic regression over the classifier's kind of features (character 1-3-grams plus the jieba/ERP-dictionary
token stream), trained on the ERP questions the classifier learns from (positives) and on written group chatter
(negatives, ``models/data/offtopic/*.jsonl``). A real question gated off loses its drafts, so the threshold is set
on out-of-fold predictions for a high ERP recall (``Settings.gate_erp_recall_target``), not for accuracy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from erp_assist.errors import ModelNotTrainedError
from models.classifier import TfidfFeatures, shared_processor

__all__ = [
    "GATE_FORMAT",
    "GateDecision",
    "OffTopicGate",
    "ErpVocabulary",
    "load_chatter",
    "tune_gate_threshold",
    "write_chatter",
]

# Version of the saved file's layout; a file of another version is refused (and retrained by the service).
GATE_FORMAT = 2
MIN_PER_SIDE = 20


@dataclass(frozen=True)
class GateDecision:
    off_topic: bool
    probability: float  # that the message is not about the ERP
    erp_terms: tuple[str, ...] = ()  # ERP words in the message, which keep it on topic whatever the model says
    kb_terms: tuple[str, ...] = ()  # words of the group's own FAQ questions (never chatter's), which do too


_ERP_DICTIONARY = Path(__file__).resolve().parent.parent / "indexer" / "dicts" / "erp.txt"
# Words of the ERP dictionary that everyday chatter uses too (a restaurant's 结账, the chat app's 登录 and 权限,
# "明天请假", a new colleague's 入职, the personal tax app's 个税): alone they do not make a message an ERP question.
_EVERYDAY = frozenset("""结账 登录 密码 权限 角色 接口 同步 审批流 工作流 请假 入职 离职 个税 社保 公积金 组织架构
线索 拜访记录 客户签收 工资条 开票 折旧 停产 停线 报错 导出 打印 审核 退货 卡住 发货 收货 供应商""".split())
_SYNONYMS = _ERP_DICTIONARY.with_name("synonyms.txt")
# The systems themselves: a message naming one is about work in it.
_SYSTEMS = ("erp", "sap", "s/4", "hana", "用友", "金蝶", "k3", "k/3", "云星空", "精斗云", "u8", "u9", "nc", "ncc",
            "yonsuite", "bip", "oracle", "ebs", "d365", "dynamics", "navision", "odoo", "netsuite", "万达宝", "简道云",
            "鼎捷", "浪潮", "mes", "wms", "crm", "srm", "plm")


class ErpVocabulary:
    """Words that only a message about the ERP uses: the ERP dictionary's document and transaction names and
    T-codes (less the everyday ones) and the names of ERP products. The gate never turns such a message away."""

    def __init__(self, terms: list[str]) -> None:
        latin = sorted({t for t in terms if t.isascii()}, key=len, reverse=True)
        cjk = sorted({t for t in terms if not t.isascii()}, key=len, reverse=True)
        alternatives = [rf"(?<![a-z0-9]){re.escape(t)}(?![a-z0-9])" for t in latin] + [re.escape(t) for t in cjk]
        self._pattern = re.compile("|".join(alternatives))

    @classmethod
    def default(cls) -> ErpVocabulary:
        """The shipped dictionaries: the ERP words, and every synonym group whose canonical word is not an
        everyday one (盘点 brings 盘库; 打印 and its group stay out)."""
        words = {line.split()[0].lower() for line in _lines(_ERP_DICTIONARY)} - _EVERYDAY
        for group in (line.lower().split() for line in _lines(_SYNONYMS)):
            if group[0] not in _EVERYDAY:
                words.update(w for w in group if w not in _EVERYDAY)
        return cls(sorted(words) + list(_SYSTEMS))

    def find(self, text: str) -> tuple[str, ...]:
        """The ERP words in ``text`` (normalized: Traditional script, full-width letters and case)."""
        return tuple(dict.fromkeys(m.group(0) for m in self._pattern.finditer(shared_processor().normalize(text))))


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]


def load_chatter(directory: Path) -> list[str]:
    """Off-topic messages: the ``text`` of every line of every ``*.jsonl`` in ``directory`` (none if absent)."""
    texts: list[str] = []
    for path in sorted(directory.glob("*.jsonl")) if directory.is_dir() else []:
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                texts.append(str(json.loads(line)["text"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"{path}:{line_no}: not a JSON object with a text field ({exc})") from exc
    return texts


def write_chatter(path: Path, texts: list[str]) -> Path:
    """Write off-topic messages as a file ``load_chatter`` reads, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text("".join(json.dumps({"text": t, "kind": "expert"}, ensure_ascii=False) + "\n" for t in texts),
                       encoding="utf-8")
    partial.replace(path)
    return path


def tune_gate_threshold(off_probability: np.ndarray, is_off: np.ndarray, erp_recall_target: float) -> float:
    """The lowest bar on P(off-topic) that still lets ``erp_recall_target`` of the ERP questions through.

    Gating off happens at ``probability >= bar``; the bar lies just above the ERP question ranked at the target
    quantile, so at most ``1 - target`` of the ERP questions score at or above it."""
    erp = np.sort(off_probability[~is_off])[::-1]
    if len(erp) == 0:
        raise ValueError("no ERP questions to tune the gate on")
    # ERP questions that may be gated off (the epsilon keeps 10 × (1 - 0.9) from flooring to 0)
    allowed = int(np.floor(len(erp) * (1 - erp_recall_target) + 1e-9))
    boundary = erp[allowed] if allowed < len(erp) else 0.0
    above = erp[allowed - 1] if allowed > 0 else 1.0
    return float(min(1.0, boundary + max((above - boundary) / 2, 1e-6)))


class OffTopicGate:
    """``train()`` on ERP questions and chatter, ``decide()`` per message, ``save()``/``load()``."""

    def __init__(self, threshold: float = 0.5, erp_recall_target: float = 0.998) -> None:
        self.threshold = threshold
        self.erp_recall_target = erp_recall_target
        self.vocabulary = ErpVocabulary.default()
        self.chatter_words: frozenset[str] = frozenset()
        self.features: TfidfFeatures | None = None
        self.model: LogisticRegression | None = None
        self.trained_at: str | None = None
        self.n_erp = 0
        self.n_off_topic = 0

    def train(self, erp_texts: list[str], off_topic_texts: list[str], seed: int = 0) -> OffTopicGate:
        """Fit on both sides and set the threshold from 5-fold out-of-fold probabilities."""
        for side, texts in (("ERP questions", erp_texts), ("off-topic messages", off_topic_texts)):
            if len(texts) < MIN_PER_SIDE:
                raise ValueError(f"the gate needs at least {MIN_PER_SIDE} {side}, got {len(texts)}")
        texts = erp_texts + off_topic_texts
        is_off = np.array([False] * len(erp_texts) + [True] * len(off_topic_texts))
        with threadpool_limits(limits=1, user_api="blas"):
            folds = StratifiedKFold(5, shuffle=True, random_state=seed)
            out_of_fold = np.zeros(len(texts))
            for train, test in folds.split(texts, is_off):
                features, model = self._fit([texts[i] for i in train], is_off[train], seed)
                out_of_fold[test] = model.predict_proba(features.transform([texts[i] for i in test]))[:, 1]
            self.threshold = tune_gate_threshold(out_of_fold, is_off, self.erp_recall_target)
            self.features, self.model = self._fit(texts, is_off, seed)
        self.chatter_words = frozenset().union(*(shared_processor().words(t) for t in off_topic_texts))
        self.trained_at = datetime.now(timezone.utc).isoformat()
        self.n_erp, self.n_off_topic = len(erp_texts), len(off_topic_texts)
        return self

    def kb_vocabulary(self, faq_questions: list[str], max_common_frequency: int = 500) -> frozenset[str]:
        """The words a group's FAQ questions use that its chatter never does and everyday Chinese rarely does
        (jieba's dictionary frequency below ``max_common_frequency``): a message naming one asks about something
        the group answers (花呗 in a payment company's group), even when it is no ERP word."""
        words = frozenset().union(*(shared_processor().words(q) for q in faq_questions)) - self.chatter_words
        return frozenset(w for w in words if shared_processor().frequency(w) < max_common_frequency)

    @staticmethod
    def _fit(texts: list[str], is_off: np.ndarray, seed: int) -> tuple[TfidfFeatures, LogisticRegression]:
        features = TfidfFeatures(words=True)
        x = features.fit_transform(texts)
        # Balanced: chatter is the smaller side of the training data but most of a real group's traffic.
        model = LogisticRegression(C=4.0, class_weight="balanced", max_iter=2000, random_state=seed)
        return features, model.fit(x, is_off)

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """P(off-topic) per message."""
        if self.features is None or self.model is None:
            raise ModelNotTrainedError("the off-topic gate is not trained; run `erp-assist train-classifier`")
        return self.model.predict_proba(self.features.transform(texts))[:, 1]

    def decide(self, text: str, kb_vocabulary: frozenset[str] = frozenset()) -> GateDecision:
        """Off-topic when the model is sure enough and the message names nothing of the ERP's or of the group's
        own knowledge base (``kb_vocabulary``)."""
        probability = float(self.probabilities([text])[0])
        terms = self.vocabulary.find(text)
        known = tuple(sorted(shared_processor().words(text) & kb_vocabulary)) if kb_vocabulary else ()
        return GateDecision(probability >= self.threshold and not terms and not known, round(probability, 4),
                            terms, known)

    def warm_up(self) -> OffTopicGate:
        if self.features is not None:
            self.features.warm_up()
        return self

    def save(self, path: Path) -> None:
        if self.features is None or self.model is None:
            raise ModelNotTrainedError("train the gate before saving it")
        path.parent.mkdir(parents=True, exist_ok=True)
        payload: dict[str, Any] = {"format": GATE_FORMAT, **{name: getattr(self, name) for name in (
            "threshold", "erp_recall_target", "features", "model", "chatter_words", "trained_at", "n_erp",
            "n_off_topic")}}
        partial = path.with_suffix(path.suffix + ".part")
        joblib.dump(payload, partial)
        partial.replace(path)

    @classmethod
    def load(cls, path: Path) -> OffTopicGate:
        """The saved gate, warmed up; ``ModelNotTrainedError`` when missing or of another format."""
        if not path.is_file():
            raise ModelNotTrainedError(f"no off-topic gate at {path.name}; run `erp-assist train-classifier`")
        payload = joblib.load(path)
        if payload.get("format") != GATE_FORMAT:
            raise ModelNotTrainedError(f"{path.name} is a gate of format {payload.get('format')}, this version "
                                       f"reads {GATE_FORMAT}; run `erp-assist train-classifier` again")
        gate = cls(payload["threshold"], payload["erp_recall_target"])
        for name in ("features", "model", "chatter_words", "trained_at", "n_erp", "n_off_topic"):
            setattr(gate, name, payload[name])
        return gate.warm_up()
