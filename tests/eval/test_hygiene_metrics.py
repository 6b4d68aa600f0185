"""The hygiene scorer on hand-worked toy reports before it judges the check on the labelled set."""

from __future__ import annotations

import pytest

from eval.hygiene import HygieneLabel, load_labels, score_report
from indexer.hygiene import Contradiction, DuplicateGroup, HygieneReport, StaleReason, StaleSource


def _labels() -> list[HygieneLabel]:
    return [
        HygieneLabel("p1", "duplicate", "kb://faq/a", "dev"),
        HygieneLabel("p2", "duplicate", "kb://faq/b", "dev"),
        HygieneLabel("p3", "contradiction", "kb://faq/c", "dev", "number"),
        HygieneLabel("p4", "stale", None, "dev", "age"),
        HygieneLabel("p5", "clean", None, "dev"),
    ]


def test_precision_and_recall_per_kind_on_a_toy_report():
    report = HygieneReport(
        # p1 grouped with its origin (right); p5, a clean near miss, grouped with a (a false alarm).
        duplicates=[DuplicateGroup("g", ("kb://faq/a", "kb://faq/p1", "kb://faq/p5"), "kb://faq/a", 0.8, "")],
        # p3 paired with the wrong entry: found, but not correct.
        contradictions=[Contradiction("c", "kb://faq/x", "kb://faq/p3", 0.7, ("number",), ())],
        stale=[StaleSource("s", "kb://faq/p4", (StaleReason("age", "旧"),)),
               StaleSource("t", "kb://faq/a", (StaleReason("age", "旧"),))],  # not planted: not scored
    )
    m = score_report(report, _labels())
    assert (m["duplicate/precision"], m["duplicate/recall"], m["duplicate/n"]) == (0.5, 0.5, 2)
    assert (m["contradiction/precision"], m["contradiction/recall"]) == (0.0, 0.0)
    assert (m["stale/precision"], m["stale/recall"]) == (1.0, 1.0)
    assert m["clean/false_alarms"] == 1 and m["clean/n"] == 1
    assert m["duplicate/f1"] == 0.5 and m["contradiction/f1"] == 0.0
    assert m["macro_f1"] == pytest.approx((0.5 + 0.0 + 1.0) / 3, abs=1e-4)


def test_an_empty_report_finds_nothing():
    m = score_report(HygieneReport(), _labels())
    assert all(m[f"{k}/recall"] == 0.0 for k in ("duplicate", "contradiction", "stale"))
    assert m["clean/false_alarms"] == 0


def test_a_bad_label_line_names_the_file_and_line(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text('{"id": "p1", "kind": "duplicate", "of": "kb://faq/a", "split": "dev"}\n'
                    '{"id": "p2", "kind": "重复"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"labels.jsonl:2: not a hygiene label"):
        load_labels(path)
