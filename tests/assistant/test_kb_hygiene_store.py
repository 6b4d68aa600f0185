"""Hygiene in the store, on SQLite and PostgreSQL: experts' resolutions (append-only, validated), each source's
usage for the stale checks, and the schema-5 → 6 migration."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select

from assistant.store import (
    SCHEMA_VERSION,
    list_resolutions,
    open_store,
    record_question,
    record_resolution,
    record_review,
    schema_version,
    source_usage,
)
from erp_assist.domain import (
    Classification,
    Decision,
    SourceLink,
    SourceType,
    Suggestion,
    SuggestResult,
    Urgency,
)
from indexer.hygiene import Action, FindingKind, curation_from


def _result(question: str, uris: list[str]) -> SuggestResult:
    suggestions = [Suggestion(rank, 1.0 / rank, f"草稿{rank}",
                              SourceLink(SourceType.FAQ, uri.split("/")[-1].split("#")[0], "标题", "", uri), "摘录")
                   for rank, uri in enumerate(uris, start=1)]
    return SuggestResult(question, Classification("inventory", Urgency.P3, 0.9, 0.9), suggestions, abstained=False)


def test_resolutions_are_appended_validated_and_become_the_curation(store_url):
    store = open_store(store_url)
    a, b = "kb://faq/inv-001", "kb://faq/hyg-0011"
    record_resolution(store, tenant="default", finding_id="f1", kind=FindingKind.DUPLICATE, action=Action.KEEP,
                      uris=[a, b], reviewer="李工", note="问法不同，先都留着")
    merged = record_resolution(store, tenant="default", finding_id="f1", kind=FindingKind.DUPLICATE,
                               action=Action.MERGE, uris=[a, b], target=a, reviewer="王工")
    with pytest.raises(ValueError, match="merge needs target: one of the finding's sources"):
        record_resolution(store, tenant="default", finding_id="f1", kind=FindingKind.DUPLICATE,
                          action=Action.MERGE, uris=[a, b], target="kb://faq/别的", reviewer="李工")
    with pytest.raises(ValueError, match="edit needs answer"):
        record_resolution(store, tenant="default", finding_id="f2", kind=FindingKind.STALE, action=Action.EDIT,
                          uris=[a], target=a, answer="  ", reviewer="李工")
    trail = list_resolutions(store, tenant="default")
    assert [(r.action, r.reviewer) for r in trail] == [(Action.KEEP, "李工"), (Action.MERGE, "王工")]
    assert trail[-1] == merged and trail[0].note == "问法不同，先都留着"
    assert curation_from(trail).merges == {b: a}  # the later decision counts; the earlier stays in the trail
    assert list_resolutions(store, tenant="acme") == []


def test_usage_counts_drafts_served_accepted_edited_and_rejected_per_source(store_url):
    store = open_store(store_url)
    assert source_usage(store, tenant="default") == ({}, None)
    hot, cold = "kb://faq/inv-001", "kb://sop/sop-inv-stocktake#盘点"
    q1 = record_question(store, tenant="default", result=_result("出库提示库存不足", [hot, cold]))
    q2 = record_question(store, tenant="default", result=_result("即时库存有货却不能出库", [hot, cold]))
    q3 = record_question(store, tenant="default", result=_result("盘点差异怎么处理", [cold, hot]))
    record_review(store, tenant="default", question_id=q1, decision=Decision.ACCEPT, reviewer="李工", suggestion_rank=1)
    record_review(store, tenant="default", question_id=q2, decision=Decision.EDIT, reviewer="李工", suggestion_rank=1,
                  edited_answer="先查预留，再释放。")
    record_review(store, tenant="default", question_id=q3, decision=Decision.REJECT, reviewer="李工")
    usage, since = source_usage(store, tenant="default")
    assert since is not None
    assert (usage[hot].served, usage[hot].accepted, usage[hot].edited, usage[hot].rejected) == (3, 1, 1, 0)
    sop = usage["kb://sop/sop-inv-stocktake"]  # a section's use counts for its document
    assert (sop.served, sop.accepted, sop.rejected) == (3, 0, 1)
    assert usage[hot].last_accepted is not None and sop.last_accepted is None
    assert source_usage(store, tenant="acme") == ({}, None)


def test_a_schema_6_store_gains_the_resolutions_table(store_url):
    store = open_store(store_url)
    with store.begin() as conn:  # back to what schema 6 had
        conn.exec_driver_sql("DROP TABLE kb_resolutions")
        conn.execute(schema_version.update().values(version=6))
    store.dispose()
    migrated = open_store(store_url)
    with migrated.connect() as conn:
        assert conn.execute(select(schema_version.c.version)).scalar() == SCHEMA_VERSION == 7
        assert inspect(conn).has_table("kb_resolutions")
    record_resolution(migrated, tenant="default", finding_id="f", kind=FindingKind.STALE, action=Action.RETIRE,
                      uris=["kb://faq/x"], target="kb://faq/x", reviewer="李工")
    migrated.dispose()
    again = open_store(store_url)  # opening a migrated store again changes nothing
    assert [r.action for r in list_resolutions(again, tenant="default")] == [Action.RETIRE]
