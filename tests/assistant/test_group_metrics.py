"""Group metrics on a seeded history with known answers (hand-worked below), the route, gauges and digest."""

import json
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from rich.console import Console
from sqlalchemy import update

from assistant.app import create_app
from assistant.channels import DingTalkAdapter, FeishuAdapter
from assistant.group_metrics import (
    PointRules,
    daily_digest,
    digest_markdown,
    digest_table,
    group_stats,
    index_sources,
    post_digest,
)
from assistant.routes import channels
from assistant.store import (
    create_key,
    open_store,
    questions,
    record_question,
    record_review,
    reopen_question,
    reviews,
)
from erp_assist.domain import (
    Classification,
    Decision,
    SourceLink,
    SourceType,
    Suggestion,
    SuggestResult,
    Urgency,
    source_uri,
)
from tests.assistant.channels.conftest import FEISHU_APP, ROBOT, fake  # noqa: F401 - the fake platform fixture

CN = timezone(timedelta(hours=8))
DAY = date(2025, 3, 3)  # local (UTC+8) day: 2025-03-02T16:00Z … 2025-03-03T16:00Z
FAQ, SOP = SourceType.FAQ, SourceType.SOP


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def _result(text, module, urgency, drafts):
    links = [SourceLink(kind, sid, f"title of {sid}", anchor, source_uri(kind, sid, anchor)) for kind, sid, anchor in drafts]
    return SuggestResult(text, Classification(module, Urgency(urgency), 0.9, 0.9),
                         [Suggestion(i, 0.5, f"draft {i}", link, "") for i, link in enumerate(links, start=1)],
                         abstained=not drafts, build_id="seed")


def _ask(store, when, text, module, urgency, drafts, group="erp-fin"):
    qid = record_question(store, tenant="default", result=_result(text, module, urgency, drafts), asker="张敏", group=group)
    with store.begin() as conn:
        conn.execute(update(questions).where(questions.c.id == qid).values(created_at=when))
    return qid


def _at(store, review, when):
    with store.begin() as conn:
        conn.execute(update(reviews).where(reviews.c.id == review.id).values(created_at=when))


def _decide(store, when, qid, decision, reviewer, **kwargs):
    _at(store, record_review(store, tenant="default", question_id=qid, decision=Decision(decision), reviewer=reviewer, **kwargs), when)


@pytest.fixture
def seeded(tmp_path):
    """Nine questions, worked by hand:

    Q1 fin P2  09:00 local, 李工 accepts FAQ draft 1 after 10 min          first-contact resolved, KB used
    Q2 inv P2  10:00, 王主管 edits SOP draft 2 after 30 min (new FAQ)      KB used (the SOP)
    Q3 inv P1  11:00, abstained; 李工 writes the answer after 60 min       new FAQ, KB not used
    Q4 fin P1  13:00, drafted, nobody decided                              open P1
    Q5 fin P3  14:00, 李工 accepts (20 min), reopened, 王主管 rejects
    Q6 sal P1  16:00, 李工 accepts (5 min), reopened                       open P1 again
    Q7 fin P2  asked the day before, 王主管 accepts on the day
    Q8 sal P2  another group, 赵工 accepts after 15 min                    first-contact resolved, KB used
    Q9 fin P1  asked the next day                                          open P1 (not yet on the day)
    """
    store = open_store(f"sqlite:///{tmp_path / 'metrics.db'}")
    q1 = _ask(store, utc(3, 1), "月结提示未过账凭证", "finance", "P2", [(FAQ, "t-fin-1", ""), (SOP, "sop-test-receipt", "常见问题")])
    _decide(store, utc(3, 1, 10), q1, "accept", "李工", suggestion_rank=1)
    q2 = _ask(store, utc(3, 2), "出库提示库存不足", "inventory", "P2", [(FAQ, "t-inv-1", ""), (SOP, "sop-test-receipt", "常见问题")])
    _decide(store, utc(3, 2, 30), q2, "edit", "王主管", suggestion_rank=2, edited_answer="先审核入库单再出库。")
    q3 = _ask(store, utc(3, 3), "全仓扫码枪失灵", "inventory", "P1", [])
    _decide(store, utc(3, 4), q3, "edit", "李工", edited_answer="重启 WMS 网关服务。")
    _ask(store, utc(3, 5), "总账无法过账", "finance", "P1", [(FAQ, "t-fin-2", "")])
    q5 = _ask(store, utc(3, 6), "凭证怎么打印", "finance", "P3", [(FAQ, "t-fin-1", "")])
    _decide(store, utc(3, 6, 20), q5, "accept", "李工", suggestion_rank=1)
    _at(store, reopen_question(store, tenant="default", question_id=q5, reviewer="王主管"), utc(3, 7))
    _decide(store, utc(3, 7, 30), q5, "reject", "王主管", note="不是这个问题")
    q6 = _ask(store, utc(3, 8), "客户信用额度超了发不了货", "sales", "P1", [(FAQ, "t-sal-1", "")])
    _decide(store, utc(3, 8, 5), q6, "accept", "李工", suggestion_rank=1)
    _at(store, reopen_question(store, tenant="default", question_id=q6, reviewer="李工"), utc(3, 9))
    q7 = _ask(store, utc(2, 10), "月结提示未过账", "finance", "P2", [(FAQ, "t-fin-1", "")])
    _decide(store, utc(3, 1, 30), q7, "accept", "王主管", suggestion_rank=1)
    q8 = _ask(store, utc(3, 10), "信用额度临时调整", "sales", "P2", [(FAQ, "t-sal-1", "")], group="erp-sales")
    _decide(store, utc(3, 10, 15), q8, "accept", "赵工", suggestion_rank=1)
    _ask(store, utc(3, 17), "工资发不出去", "hr", "P1", [(FAQ, "t-hr-1", "")])
    yield store
    store.dispose()


def test_daily_digest_numbers(seeded, assistant):
    digest = daily_digest(seeded, DAY, tenant="default", tz=CN, sources=index_sources(assistant.index.chunks))
    s = digest.stats
    assert (s.questions, s.drafted, s.reviewed) == (7, 6, 6)
    # first decision: Q1 10, Q2 30, Q3 60, Q5 20, Q6 5, Q8 15 minutes
    assert s.mean_first_decision_minutes == pytest.approx(140 / 6)
    assert s.median_first_decision_minutes == pytest.approx(17.5)
    # first response: 0 wherever the bot drafted, Q3 waited 60 minutes for the expert
    assert s.mean_first_response_minutes == pytest.approx(60 / 7) and s.median_first_response_minutes == 0
    assert s.first_contact_resolution_rate == pytest.approx(2 / 6)  # Q1, Q8
    assert s.knowledge_utilization == pytest.approx(3 / 7)  # Q1, Q2, Q8
    assert [(u.uri, u.uses) for u in s.top_sources] == [
        ("kb://faq/t-fin-1", 1), ("kb://faq/t-sal-1", 1), ("kb://sop/sop-test-receipt", 1)]
    assert [u.uri for u in s.unused_sources] == [f"kb://faq/{i}" for i in (
        "t-fin-2", "t-hr-1", "t-inv-1", "t-inv-2", "t-prd-1", "t-prd-2", "t-pur-1", "t-pur-2", "t-sal-2", "t-sys-1")]
    by_module = {m: (r.decisions, r.accepted, r.edited, r.rejected, r.acceptance_rate, r.edit_rate)
                 for m, r in s.by_module.items()}
    assert by_module == {"finance": (4, 3, 0, 1, 0.75, 0.0), "inventory": (2, 0, 2, 0, 1.0, 1.0),
                         "sales": (2, 2, 0, 0, 1.0, 0.0)}
    by_expert = {e: (r.decisions, r.accepted, r.edited, r.rejected) for e, r in s.by_expert.items()}
    assert by_expert == {"李工": (4, 3, 1, 0), "王主管": (3, 1, 1, 1), "赵工": (1, 1, 0, 0)}
    assert s.by_expert["王主管"].acceptance_rate == pytest.approx(2 / 3)
    # 王主管: Q2 edit 3 + new FAQ 5, Q7 accept 2; 李工: Q1 accept 2, Q3 new FAQ 5 (Q5, Q6 reopened: 0)
    assert [(e.expert, e.points, e.accepted, e.edited, e.new_faq) for e in s.leaderboard] == [
        ("王主管", 10, 1, 1, 1), ("李工", 7, 1, 0, 1), ("赵工", 2, 1, 0, 0)]
    assert s.open_p1 == 2
    assert [q[0] for q in digest.open_p1_questions] == [4, 6]


def test_group_filter_points_rules_and_all_time(seeded):
    sales = group_stats(seeded, tenant="default", since=datetime(2025, 3, 3, tzinfo=CN), until=datetime(2025, 3, 4, tzinfo=CN),
                        group="erp-sales", points=PointRules(accepted=1, edited=0, new_faq=0))
    assert (sales.questions, sales.first_contact_resolution_rate, sales.knowledge_utilization, sales.open_p1) == (
        1, 1.0, 1.0, 0)
    assert [(e.expert, e.points) for e in sales.leaderboard] == [("赵工", 1)]
    everything = group_stats(seeded, tenant="default")
    assert (everything.questions, everything.reviewed, everything.open_p1) == (9, 7, 3)
    assert everything.first_contact_resolution_rate == pytest.approx(3 / 7)  # Q1, Q7, Q8
    assert everything.knowledge_utilization == pytest.approx(4 / 9)
    with pytest.raises(ValueError, match="not before"):
        group_stats(seeded, tenant="default", since=utc(3, 2), until=utc(3, 1))


def test_digest_renders_as_markdown_and_table(seeded):
    digest = daily_digest(seeded, DAY, tenant="default", tz=CN)
    title, markdown = digest_markdown(digest)
    assert title == "ERP助手 · 2025-03-03 日报"
    assert "提问 7 个" in markdown and "一次解决率 33%" in markdown and "未关闭 P1：2 个" in markdown
    assert "1. 王主管 10 分" in markdown
    console = Console(record=True, width=120)
    console.print(digest_table(digest))
    text = console.export_text()
    assert "first-contact resolution" in text and "33%" in text and "points: 王主管" in text


def test_digest_is_posted_through_the_adapters(seeded, session_settings, fake):  # noqa: F811
    settings = session_settings.model_copy(update={
        "feishu_verification_token": "t", "feishu_app_id": FEISHU_APP[0], "feishu_app_secret": FEISHU_APP[1],
        "feishu_api_base": fake.url, "dingtalk_app_secret": "s", "dingtalk_robot_token": ROBOT[0],
        "dingtalk_robot_secret": ROBOT[1], "dingtalk_api_base": fake.url})
    digest = daily_digest(seeded, DAY, tenant="default", tz=CN)
    sent = post_digest(digest, FeishuAdapter(settings), "oc_digest")
    assert sent.msg_id == "om_bot_1"
    [call] = fake.sent("/open-apis/im/v1/messages")
    assert call.body["receive_id"] == "oc_digest" and call.query == {"receive_id_type": "chat_id"}
    card = json.loads(call.body["content"])
    assert card["header"]["template"] == "red"  # open P1s
    assert "王主管 10 分" in card["elements"][0]["text"]["content"]
    post_digest(digest, DingTalkAdapter(settings), "")
    [robot] = fake.sent("/robot/send")
    assert robot.body["markdown"]["title"] == "ERP助手 · 2025-03-03 日报"


def test_group_stats_route_needs_an_expert_and_feeds_prometheus(seeded, session_settings, assistant, tmp_path):
    settings = session_settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'metrics.db'}"})
    keys = {role: create_key(seeded, name=f"{role}-1", role=role)[1] for role in ("asker", "expert")}
    app = create_app(settings, assistant=assistant)
    app.include_router(channels.router)
    with TestClient(app) as client:
        assert client.get("/v1/stats/group").status_code == 401
        assert client.get("/v1/stats/group", headers={"X-API-Key": keys["asker"]}).status_code == 403
        expert = {"X-API-Key": keys["expert"]}
        everything = client.get("/v1/stats/group", headers=expert).json()
        assert (everything["questions"], everything["open_p1"]) == (9, 3)
        day = client.get("/v1/stats/group", params={"date": "2025-03-03"}, headers=expert).json()
        assert day["date"] == "2025-03-03" and day["questions"] == 7 and day["open_p1"] == 2
        assert day["first_contact_resolution_rate"] == pytest.approx(2 / 6)
        assert day["leaderboard"][0] == {"expert": "王主管", "points": 10, "accepted": 1, "edited": 1, "new_faq": 1}
        assert day["since"] == "2025-03-03T00:00:00+08:00"
        one_group = client.get("/v1/stats/group", params={"date": "2025-03-03", "group": "erp-sales"}, headers=expert)
        assert one_group.json()["questions"] == 1
        metrics = client.get("/metrics").text
    assert 'erp_assist_group_open_p1{tenant="default"} 3.0' in metrics
    assert "erp_assist_group_first_contact_resolution_ratio" in metrics
