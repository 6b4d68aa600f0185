"""How the ERP group is served: response times, first-contact resolution, knowledge use, expert points.

Read-only queries over the review store (``assistant.store`` tables). Two views, so that a daily digest
shows both what was asked that day and what the experts did that day:

* **questions asked** in ``[since, until)`` — with their review trail up to ``until`` — give the counts, the
  time to first response (0 when the bot drafted an answer, else the first expert decision), the time to
  the first expert decision, first-contact resolution (the first decision is *accept*, and the question
  was never reopened), knowledge utilization (share of the questions whose answer in force is a KB draft,
  accepted or edited, on a question the bot did not abstain on) and the sources those answers came from;
* **decisions made** in ``[since, until)`` — on any question — give acceptance and edit rates per module
  and per expert (``acceptance_rate`` counts accepts and edits, as ``/v1/stats`` does) and the expert
  points: ``points_accepted`` per accepted draft, ``points_edited`` per edit of a draft, ``points_new_faq``
  per decision that adds a new FAQ entry; a decision later reopened earns nothing.

``open_p1`` counts the P1 questions still open at ``until``. Every number is one tenant's: the queries take a
required ``tenant`` and read only its questions, reviews and learned entries.
"""

from __future__ import annotations

import statistics
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, select

from assistant.channels.base import ChannelAdapter, OutgoingReply, Sent
from assistant.store import learned, questions, reviews, suggestions, tag_changes, tenants
from erp_assist.domain import SourceType, source_uri
from erp_assist.settings import Settings

__all__ = [
    "DailyDigest",
    "ExpertScore",
    "GroupMetricsCollector",
    "GroupStats",
    "PointRules",
    "Rates",
    "SourceUse",
    "daily_digest",
    "digest_markdown",
    "digest_table",
    "group_stats",
    "index_sources",
    "post_digest",
    "register_group_metrics",
]

_KB_TYPES = (SourceType.FAQ.value, SourceType.SOP.value)
_TOP_SOURCES = 10


@dataclass(frozen=True)
class PointRules:
    accepted: int = 2
    edited: int = 3
    new_faq: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> PointRules:
        return cls(settings.points_accepted, settings.points_edited, settings.points_new_faq)


@dataclass(frozen=True)
class Rates:
    decisions: int
    accepted: int
    edited: int
    rejected: int
    acceptance_rate: float  # (accepted + edited) / decisions
    edit_rate: float  # edited / decisions


@dataclass(frozen=True)
class SourceUse:
    uri: str
    type: str
    title: str
    uses: int


@dataclass(frozen=True)
class ExpertScore:
    expert: str
    points: int
    accepted: int
    edited: int
    new_faq: int


@dataclass(frozen=True)
class GroupStats:
    since: datetime | None
    until: datetime
    group: str | None
    questions: int
    drafted: int  # the bot answered with drafts (did not abstain)
    reviewed: int  # an expert decided at least once
    mean_first_response_minutes: float | None
    median_first_response_minutes: float | None
    mean_first_decision_minutes: float | None
    median_first_decision_minutes: float | None
    first_contact_resolution_rate: float  # of the reviewed questions
    knowledge_utilization: float  # of all questions asked
    top_sources: list[SourceUse]
    unused_sources: list[SourceUse]  # FAQ/SOP sources of the index no answer came from
    by_module: dict[str, Rates]
    by_expert: dict[str, Rates]
    leaderboard: list[ExpertScore]
    open_p1: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["since"] = self.since.isoformat() if self.since else None
        data["until"] = self.until.isoformat()
        return data


@dataclass(frozen=True)
class DailyDigest:
    day: date
    stats: GroupStats
    open_p1_questions: list[tuple[int, str, str | None]] = field(default_factory=list)  # (id, text, group)
    erp_alerts: dict[str, int] = field(default_factory=dict)  # urgency → ERP alerts posted that day (issue #21)

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), **self.stats.to_dict(),
                "open_p1_questions": [{"id": i, "question": t, "group": g} for i, t, g in self.open_p1_questions],
                "erp_alerts": dict(self.erp_alerts)}


# ---------------------------------------------------------------------------------------------------------
# Reading the store


def _aware(value: datetime) -> datetime:
    # SQLite drops the offset; the store writes UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class _Question:
    id: int
    text: str
    group: str | None
    module: str
    urgency: str
    abstained: bool
    created: datetime
    trail: list[Any] = field(default_factory=list)  # review rows up to ``until``, oldest first
    drafts: dict[int, Any] = field(default_factory=dict)  # rank → suggestion row

    @property
    def decisions(self) -> list[Any]:
        return [r for r in self.trail if r.decision != "reopen"]

    @property
    def status(self) -> str:
        if not self.trail or self.trail[-1].decision == "reopen":
            return "open"
        return "rejected" if self.trail[-1].decision == "reject" else "answered"

    def reopened_after(self, review_id: int) -> bool:
        return any(r.decision == "reopen" and r.id > review_id for r in self.trail)


def _load(engine: Engine, until: datetime, group: str | None,
          tenant: str) -> tuple[list[_Question], dict[int, str]]:
    """``tenant``'s questions asked before ``until`` with their trails and drafts; learned-entry kind per review id."""
    until = _aware(until).astimezone(UTC)
    if engine.dialect.name == "sqlite":
        until = until.replace(tzinfo=None)  # SQLite keeps the UTC wall time without its offset
    own = questions.c.tenant == tenant
    # Chatter the off-topic gate turned away is not a question to the group's experts.
    query = select(questions).where(own, questions.c.created_at < until, questions.c.off_topic.is_(False))
    if group is not None:
        query = query.where(questions.c.group_name == group)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(questions.c.id)).all()
        asked = {r.id: _Question(r.id, r.text, r.group_name, r.module, r.urgency, bool(r.abstained),
                                 _aware(r.created_at)) for r in rows}
        for review in conn.execute(select(reviews).join(questions, questions.c.id == reviews.c.question_id)
                                   .where(own, reviews.c.created_at < until).order_by(reviews.c.id)):
            if review.question_id in asked:
                asked[review.question_id].trail.append(review)
        for draft in conn.execute(select(suggestions).join(questions, questions.c.id == suggestions.c.question_id)
                                  .where(own)):
            if draft.question_id in asked:
                asked[draft.question_id].drafts[draft.rank] = draft
        kinds = {row.review_id: row.kind
                 for row in conn.execute(select(learned.c.review_id, learned.c.kind).where(learned.c.tenant == tenant))}
    return list(asked.values()), kinds


def _minutes(start: datetime, end: datetime) -> float:
    return (_aware(end) - start).total_seconds() / 60


def _mean_median(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    return statistics.fmean(values), statistics.median(values)


def _rates(decisions: Iterable[Any]) -> Rates:
    counts = Counter(r.decision for r in decisions)
    n = counts["accept"] + counts["edit"] + counts["reject"]
    return Rates(n, counts["accept"], counts["edit"], counts["reject"],
                 (counts["accept"] + counts["edit"]) / n if n else 0.0, counts["edit"] / n if n else 0.0)


def index_sources(chunks: Iterable[Any]) -> list[SourceUse]:
    """The FAQ and SOP sources of a published index (``assistant.index.chunks``), one per document."""
    seen: dict[str, SourceUse] = {}
    for chunk in chunks:
        kind = chunk.source_type.value
        if kind in _KB_TYPES:
            uri = source_uri(chunk.source_type, chunk.source_id)
            seen.setdefault(uri, SourceUse(uri, kind, chunk.title, 0))
    return sorted(seen.values(), key=lambda s: s.uri)


def group_stats(engine: Engine, *, tenant: str, until: datetime | None = None, since: datetime | None = None,
                group: str | None = None, sources: Iterable[SourceUse] = (),
                points: PointRules = PointRules()) -> GroupStats:
    """``tenant``'s numbers for questions asked and decisions made in ``[since, until)`` (module docstring).

    ``sources``: the FAQ/SOP sources of the tenant's index (``index_sources``), to list those never used.
    """
    until = _aware(until) if until else datetime.now(UTC)
    since = _aware(since) if since else None
    if since is not None and since >= until:
        raise ValueError(f"since={since.isoformat()} is not before until={until.isoformat()}")
    everything, kinds = _load(engine, until, group, tenant)
    asked = [q for q in everything if since is None or q.created >= since]

    first_response: list[float] = []
    first_decision: list[float] = []
    resolved_first = 0
    used: Counter[str] = Counter()
    titles: dict[str, tuple[str, str]] = {}
    for q in asked:
        waited = None
        if q.decisions:
            first = q.decisions[0]
            waited = _minutes(q.created, first.created_at)
            first_decision.append(waited)
            resolved_first += first.decision == "accept" and not q.reopened_after(first.id)
        if not q.abstained:
            first_response.append(0.0)  # the bot's drafts are the first response
        elif waited is not None:
            first_response.append(waited)
        final = q.trail[-1] if q.status == "answered" else None
        if final is not None and not q.abstained and final.suggestion_rank in q.drafts:
            draft = q.drafts[final.suggestion_rank]
            uri = source_uri(SourceType(draft.source_type), draft.source_id)
            used[uri] += 1
            titles.setdefault(uri, (draft.source_type, draft.title))
    reviewed = sum(1 for q in asked if q.decisions)
    mean_response, median_response = _mean_median(first_response)
    mean_decision, median_decision = _mean_median(first_decision)
    top = [SourceUse(uri, titles[uri][0], titles[uri][1], n)
           for uri, n in sorted(used.items(), key=lambda item: (-item[1], item[0]))[:_TOP_SOURCES]]

    in_period = [(q, r) for q in everything for r in q.decisions
                 if (since is None or _aware(r.created_at) >= since)]
    by_module: dict[str, list[Any]] = defaultdict(list)
    by_expert: dict[str, list[Any]] = defaultdict(list)
    scores: dict[str, Counter] = defaultdict(Counter)
    for q, r in in_period:
        by_module[q.module].append(r)
        by_expert[r.reviewer].append(r)
        if r.decision == "reject" or q.reopened_after(r.id):
            continue
        score = scores[r.reviewer]
        if r.decision == "accept":
            score["accepted"] += 1
        elif r.suggestion_rank is not None:
            score["edited"] += 1
        if kinds.get(r.id) == "entry":
            score["new_faq"] += 1
    board = sorted(
        (ExpertScore(name, s["accepted"] * points.accepted + s["edited"] * points.edited
                     + s["new_faq"] * points.new_faq, s["accepted"], s["edited"], s["new_faq"])
         for name, s in scores.items()),
        key=lambda e: (-e.points, e.expert),
    )
    return GroupStats(
        since=since, until=until, group=group, questions=len(asked), drafted=sum(not q.abstained for q in asked),
        reviewed=reviewed, mean_first_response_minutes=mean_response, median_first_response_minutes=median_response,
        mean_first_decision_minutes=mean_decision, median_first_decision_minutes=median_decision,
        first_contact_resolution_rate=resolved_first / reviewed if reviewed else 0.0,
        knowledge_utilization=sum(used.values()) / len(asked) if asked else 0.0,
        top_sources=top, unused_sources=[s for s in sources if s.uri not in used],
        by_module={m: _rates(rs) for m, rs in sorted(by_module.items())},
        by_expert={e: _rates(rs) for e, rs in sorted(by_expert.items())},
        leaderboard=board,
        open_p1=sum(q.urgency == "P1" and q.status == "open" for q in everything),
    )


def daily_digest(engine: Engine, day: date, *, tenant: str, tz: tzinfo, group: str | None = None,
                 sources: Iterable[SourceUse] = (), points: PointRules = PointRules()) -> DailyDigest:
    """``tenant``'s numbers of one local calendar day (questions asked and decisions made that day)."""
    since = datetime.combine(day, time.min, tz)
    until = since + timedelta(days=1)
    stats = group_stats(engine, tenant=tenant, since=since, until=until, group=group, sources=sources, points=points)
    everything, _ = _load(engine, until, group, tenant)
    open_p1 = [(q.id, q.text, q.group) for q in everything if q.urgency == "P1" and q.status == "open"]
    from assistant.store.erp import alert_post_counts

    alerts = {urgency: n for (_, urgency), n in
              sorted(alert_post_counts(engine, tenant=tenant, since=since, until=until).items())}
    return DailyDigest(day, stats, open_p1, alerts)


# ---------------------------------------------------------------------------------------------------------
# Showing and posting


def _pct(value: float) -> str:
    return f"{value:.0%}"


def _minutes_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} 分钟"


def digest_markdown(digest: DailyDigest, *, bot_name: str = "ERP助手") -> tuple[str, str]:
    """(title, Markdown) of a daily digest, for posting to a group."""
    s = digest.stats
    title = f"{bot_name} · {digest.day.isoformat()} 日报"
    lines = [
        f"**{digest.day.isoformat()} ERP 群答疑日报**" + (f"（{s.group}）" if s.group else ""),
        f"- 提问 {s.questions} 个，机器人给出草稿 {s.drafted} 个，专家已处理 {s.reviewed} 个",
        (f"- 首次响应：平均 {_minutes_text(s.mean_first_response_minutes)}，"
         f"中位数 {_minutes_text(s.median_first_response_minutes)}"),
        (f"- 专家首次处理：平均 {_minutes_text(s.mean_first_decision_minutes)}，"
         f"中位数 {_minutes_text(s.median_first_decision_minutes)}"),
        f"- 一次解决率 {_pct(s.first_contact_resolution_rate)}，知识库利用率 {_pct(s.knowledge_utilization)}",
        f"- 未关闭 P1：{s.open_p1} 个",
    ]
    for question_id, text, _ in digest.open_p1_questions[:5]:
        lines.append(f"  - #{question_id} {text[:40]}")
    if digest.erp_alerts:
        lines.append("- ERP 告警：" + "，".join(f"{u} {n} 条" for u, n in digest.erp_alerts.items()))
    if s.top_sources:
        lines.append("\n**最常用的知识**")
        lines += [f"- {u.title[:30]}（`{u.uri}`）× {u.uses}" for u in s.top_sources[:5]]
    if s.leaderboard:
        lines.append("\n**专家积分榜**")
        lines += [f"{i}. {e.expert} {e.points} 分（采纳 {e.accepted} · 改进 {e.edited} · 新 FAQ {e.new_faq}）"
                  for i, e in enumerate(s.leaderboard[:5], start=1)]
    return title, "\n".join(lines)


def digest_table(digest: DailyDigest) -> Any:
    """The digest as a rich table, for ``erp-assist report daily``."""
    from rich.table import Table

    s = digest.stats
    table = Table(title=f"ERP group digest {digest.day.isoformat()}" + (f" · {s.group}" if s.group else ""))
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("questions asked", str(s.questions)), ("drafted by the bot", str(s.drafted)),
        ("reviewed by an expert", str(s.reviewed)),
        ("first response, mean / median",
         f"{_minutes_text(s.mean_first_response_minutes)} / {_minutes_text(s.median_first_response_minutes)}"),
        ("first expert decision, mean / median",
         f"{_minutes_text(s.mean_first_decision_minutes)} / {_minutes_text(s.median_first_decision_minutes)}"),
        ("first-contact resolution", _pct(s.first_contact_resolution_rate)),
        ("knowledge utilization", _pct(s.knowledge_utilization)),
        ("open P1", str(s.open_p1)),
    ]
    rows += [(f"ERP alerts {urgency}", str(n)) for urgency, n in digest.erp_alerts.items()]
    rows += [(f"module {m}: accepted / edited", f"{_pct(r.acceptance_rate)} / {_pct(r.edit_rate)} of {r.decisions}")
             for m, r in s.by_module.items()]
    rows += [(f"points: {e.expert}", str(e.points)) for e in s.leaderboard]
    rows += [(f"source used: {u.uri}", str(u.uses)) for u in s.top_sources]
    if s.unused_sources:
        rows.append(("sources never used", str(len(s.unused_sources))))
    for name, value in rows:
        table.add_row(name, value)
    return table


def post_digest(digest: DailyDigest, adapter: ChannelAdapter, target: str, *, bot_name: str = "ERP助手") -> Sent:
    """Post the digest to a group through a channel adapter (``target``: the platform's chat id)."""
    title, markdown = digest_markdown(digest, bot_name=bot_name)
    return adapter.post(target, OutgoingReply(title, markdown, urgent=digest.stats.open_p1 > 0))


# ---------------------------------------------------------------------------------------------------------
# Prometheus


class GroupMetricsCollector(Collector):
    """Gauges computed at scrape time over the last ``window_days`` days, one series per tenant (``tenant`` label)."""

    def __init__(self, engine: Callable[[], Engine], settings: Settings) -> None:
        self._engine = engine
        self._window = timedelta(days=settings.group_metrics_window_days)
        self._points = PointRules.from_settings(settings)

    def _families(self) -> dict[str, GaugeMetricFamily]:
        return {
            "open_p1": GaugeMetricFamily("erp_assist_group_open_p1", "P1 questions still open", labels=["tenant"]),
            "fcr": GaugeMetricFamily("erp_assist_group_first_contact_resolution_ratio",
                                     "Reviewed questions whose first decision was accept, never reopened",
                                     labels=["tenant"]),
            "util": GaugeMetricFamily("erp_assist_group_knowledge_utilization_ratio",
                                      "Questions answered with an accepted or edited knowledge-base draft",
                                      labels=["tenant"]),
            "decision": GaugeMetricFamily("erp_assist_group_first_decision_median_minutes",
                                          "Median minutes from question to first expert decision", labels=["tenant"]),
            "acceptance": GaugeMetricFamily("erp_assist_group_acceptance_ratio",
                                            "Accepted or edited share of expert decisions",
                                            labels=["tenant", "module"]),
            "points": GaugeMetricFamily("erp_assist_group_expert_points", "Expert points", labels=["tenant", "expert"]),
            "retagged": GaugeMetricFamily("erp_assist_classifier_tag_changed_ratio",
                                          "Share of expert-checked questions whose tag an expert changed "
                                          "(all time)",
                                          labels=["tenant", "head"]),
        }

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from self._families().values()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = datetime.now(UTC)
        engine = self._engine()
        with engine.connect() as conn:
            tenant_ids = list(conn.execute(select(tenants.c.id).order_by(tenants.c.id)).scalars())
        f = self._families()
        for tenant in tenant_ids:
            stats = group_stats(engine, tenant=tenant, since=now - self._window, until=now, points=self._points)
            f["open_p1"].add_metric([tenant], stats.open_p1)
            f["fcr"].add_metric([tenant], stats.first_contact_resolution_rate)
            f["util"].add_metric([tenant], stats.knowledge_utilization)
            f["decision"].add_metric([tenant], stats.median_first_decision_minutes or 0.0)
            for module, rates in stats.by_module.items():
                f["acceptance"].add_metric([tenant, module], rates.acceptance_rate)
            for score in stats.leaderboard:
                f["points"].add_metric([tenant, score.expert], score.points)
            tags = tag_changes(engine, tenant=tenant)
            for head in ("module", "urgency", "off_topic"):
                f["retagged"].add_metric([tenant, head], tags[f"{head}_changed_rate"])
        yield from f.values()


_register_lock = threading.Lock()


def register_group_metrics(app: Any) -> None:
    """Add the group gauges to the app's metrics (computed at each scrape), once."""
    with _register_lock:
        if getattr(app.state, "group_metrics_registered", False):
            return
        app.state.metrics.add_state_collector(GroupMetricsCollector(lambda: app.state.store, app.state.settings))
        app.state.group_metrics_registered = True
