"""The review store on SQLite and on a real PostgreSQL server: one decision per question however many experts
decide at once, a busy store raising StoreBusyError (never a driver error), 64-bit ids, the whole review loop."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy
from sqlalchemy import func, select

from assistant.store import (
    ConflictError,
    NotFoundError,
    StoreBusyError,
    correct_tags,
    create_key,
    find_key,
    get_question,
    learned,
    learned_documents,
    list_queue,
    open_store,
    record_question,
    record_review,
    reopen_question,
    review_stats,
    reviews,
)
from erp_assist.domain import Classification, Decision, SourceLink, SourceType, Suggestion, SuggestResult, Urgency


def _result(text: str, urgency: Urgency = Urgency.P2) -> SuggestResult:
    link = SourceLink(SourceType.FAQ, "fin-001", "月结时提示凭证未过账", "", "kb://faq/fin-001")
    sop = SourceLink(SourceType.SOP, "month-end", "月结流程", "step-3", "kb://sop/month-end#step-3")
    return SuggestResult(text, Classification("finance", urgency, 0.9, 0.8),
                         [Suggestion(1, 0.6, "先在凭证查询里把未过账凭证全部过账，再重新月结。", link, "未过账凭证"),
                          Suggestion(2, 0.4, "检查期间是否已关闭。", sop, "期间")],
                         abstained=False, build_id="b1")


def _decide(store, question_id: int, n: int) -> str:  # noqa: ANN001
    kind = ("accept", "edit", "reject")[n % 3]
    try:
        record_review(store, tenant="default", question_id=question_id, decision=Decision(kind),
                      reviewer=f"专家{n}", suggestion_rank=1 if kind == "accept" else None,
                      edited_answer="改过的答案：先过账再结账。" if kind == "edit" else None)
    except ConflictError:
        return "conflict"
    return "ok"


def test_review_loop_round_trip(store_url):
    store = open_store(store_url)
    key, plain = create_key(store, name="李工", role="expert")
    assert find_key(store, plain=plain) == key
    first = record_question(store, tenant="default", result=_result("月结时提示凭证未过账怎么办"), asker="张敏",
                            group="财务群", key_id=key.id)
    urgent = record_question(store, tenant="default", result=_result("仓库发不了货，急", Urgency.P1))
    assert [q.id for q in list_queue(store, tenant="default")] == [urgent, first]  # P1 first
    stored = get_question(store, tenant="default", question_id=first)
    assert (stored.asker, stored.group, stored.created_at.tzinfo is not None) == ("张敏", "财务群", True)
    assert [s.rank for s in stored.suggestions] == [1, 2]

    record_review(store, tenant="default", question_id=first, decision=Decision.ACCEPT, reviewer="李工",
                  suggestion_rank=1)
    with pytest.raises(ConflictError):
        record_review(store, tenant="default", question_id=first, decision=Decision.REJECT, reviewer="王工")
    assert learned_documents(store, tenant="default") == ([], {"fin-001": ["月结时提示凭证未过账怎么办"]})
    reopen_question(store, tenant="default", question_id=first, reviewer="李工", note="答案过时")
    assert learned_documents(store, tenant="default") == ([], {})  # withdrawn until approved again
    record_review(store, tenant="default", question_id=first, decision=Decision.EDIT, reviewer="李工",
                  edited_answer="先过账，再在总账里结账。")
    documents, _ = learned_documents(store, tenant="default")
    assert [d.source_id for d in documents] == [f"learned-{first}"]

    correct_tags(store, tenant="default", question_id=urgent, reviewer="李工", module="inventory")
    stats = review_stats(store, tenant="default")
    assert stats["overall"]["reviewed"] == 1 and stats["tags"]["module_changed"] == 1
    assert [q.id for q in list_queue(store, tenant="default")] == [urgent]


def test_ids_past_32_bits_are_missing_not_errors(store_url):
    store = open_store(store_url)
    for question_id in (2**31, 2**63 - 1):
        with pytest.raises(NotFoundError):
            get_question(store, tenant="default", question_id=question_id)


def test_twenty_experts_deciding_twenty_questions_at_once_record_one_decision_each(store_url):
    store = open_store(store_url)
    ids = [record_question(store, tenant="default", result=_result(f"第{i}个问题：月结卡住了")) for i in range(20)]
    barrier = threading.Barrier(20)

    def expert(n: int) -> list[str]:
        barrier.wait()  # every expert starts at the same moment
        return [_decide(store, question_id, n + i) for i, question_id in enumerate(ids)]

    with ThreadPoolExecutor(20) as pool:
        outcomes = [pool.submit(expert, n) for n in range(20)]
        by_question = list(zip(*(o.result() for o in outcomes)))  # raises any error other than a conflict
    assert [Counter(row)["ok"] for row in by_question] == [1] * 20
    with store.connect() as conn:
        decisions = Counter(conn.execute(select(reviews.c.question_id)).scalars())
        taught = Counter(conn.execute(select(learned.c.question_id)).scalars())
    assert decisions == Counter(ids) and all(n <= 1 for n in taught.values())
    assert {get_question(store, tenant="default", question_id=q).status for q in ids} <= {"answered", "rejected"}


def test_a_locked_store_raises_busy_and_keeps_nothing_half_written(store_url):
    store = open_store(store_url, busy_timeout_seconds=0.2)
    holder = sqlalchemy.create_engine(store_url)
    with holder.connect() as conn:
        if holder.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN EXCLUSIVE")
        else:
            conn.exec_driver_sql("BEGIN")
            conn.exec_driver_sql("LOCK TABLE questions IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(StoreBusyError):
            record_question(store, tenant="default", result=_result("被锁住时提的问题"))
        conn.rollback()
    holder.dispose()
    assert list_queue(store, tenant="default") == []
    record_question(store, tenant="default", result=_result("锁放开后提的问题"))  # the store works again
    with store.connect() as conn:
        assert conn.execute(select(func.count()).select_from(reviews)).scalar() == 0
    assert len(list_queue(store, tenant="default")) == 1


def test_several_processes_open_the_same_store_at_once(store_url):
    # API workers start together: each creates or migrates the schema, and none may fail on the others' DDL.
    with ThreadPoolExecutor(4) as pool:
        engines = list(pool.map(lambda _: open_store(store_url), range(4)))
    ids = {record_question(engine, tenant="default", result=_result("并发启动后的问题")) for engine in engines}
    assert len(ids) == 4


def test_off_topic_messages_stay_out_of_the_queue_until_an_expert_says_otherwise(store_url):
    store = open_store(store_url)
    from dataclasses import replace

    chatter = replace(_result("今天食堂中午吃什么", Urgency.P3), suggestions=[], abstained=True, off_topic=True)
    lunch = record_question(store, tenant="default", result=chatter)
    real = record_question(store, tenant="default", result=_result("月结时提示凭证未过账怎么办"))
    assert [q.id for q in list_queue(store, tenant="default")] == [real]
    assert get_question(store, tenant="default", question_id=lunch).off_topic
    assert review_stats(store, tenant="default")["overall"]["questions"] == 1  # chatter is not a question

    correction = correct_tags(store, tenant="default", question_id=lunch, reviewer="李工", off_topic=False)
    assert (correction.off_topic, correction.previous_off_topic) == (False, True)
    assert [q.id for q in list_queue(store, tenant="default")] == [real, lunch]
    correct_tags(store, tenant="default", question_id=real, reviewer="李工", off_topic=True)
    assert [q.id for q in list_queue(store, tenant="default")] == [lunch]
    assert review_stats(store, tenant="default")["tags"]["off_topic_changed"] == 2


def test_a_schema_4_store_gains_the_off_topic_flag(store_url):
    from assistant.store import schema_version

    store = open_store(store_url)
    asked = record_question(store, tenant="default", result=_result("出库单保存提示库存不足"))
    with store.begin() as conn:  # back to what schema 4 had
        for table in ("questions", "tag_corrections"):
            for column in ("off_topic", "previous_off_topic") if table == "tag_corrections" else ("off_topic",):
                conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute(schema_version.update().values(version=4))
    store.dispose()
    migrated = open_store(store_url)
    assert [(q.id, q.off_topic) for q in list_queue(migrated, tenant="default")] == [(asked, False)]
    correct_tags(migrated, tenant="default", question_id=asked, reviewer="李工", off_topic=True)
    assert list_queue(migrated, tenant="default") == []
