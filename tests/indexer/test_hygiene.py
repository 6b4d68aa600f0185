"""Knowledge-base hygiene on a small real Chinese KB (tests/data/hygiene_kb): planted duplicates, contradictions
(a changed menu, number, 能/不能) and stale entries, with the real tokenizer."""

from __future__ import annotations

from datetime import date, datetime, timezone

import numpy as np
import pytest

from erp_assist.domain import Document, SourceType
from indexer.hygiene import (
    Action,
    FindingKind,
    HygieneReport,
    Resolution,
    SourceUsage,
    apply_curation,
    check_knowledge_base,
    curation_from,
    duplicate_of,
    finding_id,
    load_rules,
    menu_paths,
    sentence_differences,
)
from indexer.loaders import load_sources
from tests.conftest import DATA, make_settings

KB = DATA / "hygiene_kb"
TODAY = date(2026, 12, 1)


@pytest.fixture(scope="module")
def kb_settings(tmp_path_factory):
    return make_settings(tmp_path_factory.mktemp("hygiene"), data_dir=KB)


@pytest.fixture(scope="module")
def documents(kb_settings):
    return load_sources(kb_settings.data_dir).documents


@pytest.fixture(scope="module")
def report(documents, kb_settings, processor):
    return check_knowledge_base(documents, kb_settings, processor, today=TODAY)


def test_a_paraphrased_entry_is_grouped_with_the_original_which_is_kept(report):
    assert [g.uris for g in report.duplicates] == [("kb://faq/h-fin-1", "kb://faq/h-fin-1b")]
    group = report.duplicates[0]
    assert group.keeper == "kb://faq/h-fin-1"  # both from the file: the newer one
    assert "2025-06-18" in group.why_keeper
    assert group.id == finding_id(FindingKind.DUPLICATE, group.uris)


def test_contradictions_name_what_differs_with_the_sentences_side_by_side(report):
    found = {(c.left, c.right): c for c in report.contradictions}
    assert set(found) == {("kb://faq/h-pur-1", "kb://faq/h-pur-1x"), ("kb://faq/h-inv-1", "kb://faq/h-inv-1x"),
                          ("kb://faq/h-sal-1", "kb://faq/h-sal-1x")}
    polarity = found[("kb://faq/h-pur-1", "kb://faq/h-pur-1x")]
    assert polarity.differs == ("polarity",)
    assert "可以修改数量" in polarity.sentences[0].left and "不能修改数量" in polarity.sentences[0].right
    number = found[("kb://faq/h-inv-1", "kb://faq/h-inv-1x")]
    assert number.differs == ("number",)
    assert "3%" in number.sentences[0].left and "5%" in number.sentences[0].right
    menu = found[("kb://faq/h-sal-1", "kb://faq/h-sal-1x")]
    assert menu.differs == ("menu",) and "【退货申请单】" in menu.sentences[0].right
    # The sentence both answers share word for word is not shown as a difference.
    assert all("已收数量" not in s.left for s in polarity.sentences)


def test_unrelated_entries_and_a_contradicting_pair_are_not_duplicates(report):
    grouped = {u for g in report.duplicates for u in g.uris}
    assert not grouped & {"kb://faq/h-hr-1", "kb://faq/h-crm-1", "kb://faq/h-pur-1", "kb://faq/h-inv-1x"}


def test_stale_sources_by_age_and_by_a_retired_version_from_the_tenant_file(report):
    stale = {s.uri: [r.kind for r in s.reasons] for s in report.stale}
    assert stale == {"kb://faq/h-sys-old": ["age"], "kb://faq/h-sys-k3": ["retired"]}
    assert report.entries["kb://faq/h-sys-k3"].question.startswith("K/3 WISE")


def test_unused_and_heavily_edited_sources_are_stale_once_the_store_has_the_history(documents, kb_settings,
                                                                                    processor):
    long_ago = datetime(2025, 1, 1, tzinfo=timezone.utc)
    recent = datetime(2026, 11, 20, tzinfo=timezone.utc)
    usage = {
        "kb://faq/h-hr-1": SourceUsage(served=9, accepted=1, edited=3, rejected=2, last_served=recent,
                                       last_accepted=recent),
        "kb://faq/h-crm-1": SourceUsage(served=4, last_served=recent),
    }
    settings = kb_settings.model_copy(update={"hygiene_unused_days": 180})
    found = check_knowledge_base(documents, settings, processor, usage=usage, usage_since=long_ago, today=TODAY)
    reasons = {s.uri: {r.kind for r in s.reasons} for s in found.stale}
    assert reasons["kb://faq/h-hr-1"] == {"edited"}  # 5 of 6 reviews edited or rejected
    assert reasons["kb://faq/h-crm-1"] == {"unaccepted"}
    assert "unused" in reasons["kb://faq/h-fin-1"]  # never served in 180 days
    # A store with a month of history says nothing about 180 days of use.
    young = check_knowledge_base(documents, settings, processor, usage=usage, today=TODAY,
                                 usage_since=datetime(2026, 11, 1, tzinfo=timezone.utc))
    assert not any(r.kind == "unused" for s in young.stale for r in s.reasons)


def test_dense_similarity_joins_entries_the_words_miss(documents, kb_settings, processor):
    qa = [d for d in documents if d.source_type in (SourceType.FAQ, SourceType.CHAT)]
    vectors = np.eye(len(qa), dtype=np.float32)
    hr, crm = ([i for i, d in enumerate(qa) if d.source_id == name][0] for name in ("h-hr-1", "h-crm-1"))
    vectors[crm] = vectors[hr]  # the embedder says these two are one entry
    lexical_only = check_knowledge_base(documents, kb_settings, processor, today=TODAY)
    dense = check_knowledge_base(documents, kb_settings, processor, entry_vectors=vectors, today=TODAY)
    pair = ("kb://faq/h-hr-1", "kb://faq/h-crm-1")
    assert not any({c.left, c.right} == set(pair) for c in lexical_only.contradictions)
    # Same question by the embedder, but one entry is HR and the other CRM: a contradiction of modules.
    assert [c.differs for c in dense.contradictions if {c.left, c.right} == set(pair)] == [("module",)]
    with pytest.raises(ValueError, match="entry_vectors has 2 rows"):
        check_knowledge_base(documents, kb_settings, processor, entry_vectors=vectors[:2])


def test_sentence_differences_and_menu_paths_on_hand_worked_cases():
    assert menu_paths("进入【总账】→【凭证过账】") == ["总账", "凭证过账"]
    left = "1）进入【总账】→【凭证过账】批量过账；2）超过30天的凭证需主管审批。"
    right = "1）进入【总账】→【凭证复核】批量过账；2）超过60天的凭证需主管审批。"
    pairs = sentence_differences(left, right, 0.5)
    assert [p.differs for p in pairs] == [("menu",), ("number",)]
    assert sentence_differences(left, left, 0.5) == []
    # Unrelated sentences are not compared, whatever their numbers.
    assert sentence_differences("工资条每月10日发放。", "盘点差异率超过3%需复盘。", 0.5) == []


def test_resolutions_become_a_curation_the_build_applies():
    a, b, c, old = "kb://faq/a", "kb://faq/b", "kb://faq/c", "kb://faq/old"
    resolutions = [
        Resolution("g1", FindingKind.DUPLICATE, Action.KEEP, (a, b)),
        Resolution("g1", FindingKind.DUPLICATE, Action.MERGE, (a, b), target=a),  # the later decision counts
        Resolution("g2", FindingKind.DUPLICATE, Action.MERGE, (a, c), target=c),  # a itself merged on: b follows
        Resolution("s1", FindingKind.STALE, Action.RETIRE, (old,), target=old),
        Resolution("x1", FindingKind.CONTRADICTION, Action.EDIT, (b, c), target=c, answer="新的答案"),
    ]
    curation = curation_from(resolutions)
    assert curation.merges == {b: c, a: c}
    assert curation.retired == {old} and curation.edits == {c: "新的答案"}
    docs = [Document(SourceType.FAQ, x, f"问题{x}", f"答案{x}", metadata={"alternates": [f"别问{x}"]})
            for x in ("a", "b", "c", "old")]
    out, done = apply_curation(docs, curation)
    assert [d.source_id for d in out] == ["c"]
    keeper = out[0]
    assert keeper.text == "新的答案"
    assert keeper.metadata["alternates"] == ["别问c", "问题a", "别问a", "问题b", "别问b"]
    assert keeper.metadata["merged_from"] == [a, b]
    assert done == {"merged": 2, "retired": 1, "edited": 1, "redirects": {a: c, b: c}}


def test_kept_pairs_and_kept_stale_sources_are_not_raised_again(documents, kb_settings, processor, report):
    group = report.duplicates[0]
    keep = curation_from([Resolution(group.id, FindingKind.DUPLICATE, Action.KEEP, group.uris),
                          Resolution("s", FindingKind.STALE, Action.KEEP, ("kb://faq/h-sys-old",))])
    again = check_knowledge_base(documents, kb_settings, processor, curation=keep, today=TODAY)
    assert again.duplicates == [] and "kb://faq/h-sys-old" not in {s.uri for s in again.stale}
    assert len(again.contradictions) == 3


def test_report_round_trips_through_json_and_hides_resolved_findings(report):
    data = report.to_dict()
    back = HygieneReport.from_dict(data)
    assert back.to_dict() == data
    resolved = [Resolution(report.contradictions[0].id, FindingKind.CONTRADICTION, Action.KEEP, ())]
    assert len(back.without(resolved).contradictions) == len(report.contradictions) - 1


def test_a_learned_answer_that_repeats_an_entry_is_recognised(documents, kb_settings, processor):
    same = duplicate_of("月底结账时提示有凭证还没过账怎么办", documents[0].text, documents, processor, kb_settings)
    assert same is not None and same.faq_id == "h-fin-1" and same.sure
    unsure = duplicate_of("月底结账时提示有凭证还没过账怎么办", "请联系财务部处理。", documents, processor,
                          kb_settings)
    assert unsure is None or not unsure.sure
    assert duplicate_of("供应商的银行账号怎么变更", "由采购员提交变更申请。", documents, processor,
                        kb_settings) is None


def test_a_bad_tenant_rules_file_is_a_clear_error(tmp_path, kb_settings):
    (tmp_path / "hygiene.yaml").write_text("retired:\n  - {reason: 没有 term}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"hygiene.yaml: each retired item"):
        load_rules(kb_settings.model_copy(update={"data_dir": tmp_path}))
    rules = load_rules(kb_settings)
    assert rules.max_age_days == 1000 and rules.retired_terms == ("K/3 WISE 12.3",)
    assert load_rules(kb_settings.model_copy(update={"data_dir": tmp_path / "none",
                                                     "hygiene_retired_terms": ["旧版应收"]})).retired_terms == \
        ("旧版应收",)


def test_pairs_of_the_first_entries_only_are_those_of_all_pairs(documents, processor):
    """``first`` (what a review's duplicate lookup asks: the new question's row) drops no pair of its rows."""
    from indexer.hygiene import score_pairs

    qa = [d for d in documents if d.source_type in (SourceType.FAQ, SourceType.CHAT)]
    every = score_pairs(qa, processor, floor=0.0)
    for first in (1, 3):
        lefts = {d.uri for d in qa[:first]}
        assert score_pairs(qa, processor, floor=0.0, first=first) == [p for p in every if p.left in lefts]
    assert any(p.left == qa[0].uri for p in every)
