"""The knowledge loop, measured: replay a question history week by week, with and without learning from it.

Run: .venv/bin/python bench/replay.py [--pairs 600] [--weeks 8] [--seed-share 0.2] [--json] [--plot PATH]
     [--static] [--static-pairs accepted linked] [--static-dense-weight 0.3 0.5] [--static-control]
     [--pairs-file FILE] [--kb DIR] [--workdir DIR]

The history is a list of question pairs, each one topic worded twice: by default AFQMC's positive pairs
(../shared/data/afqmc/dev.jsonl, evaluation-only data; real Huabei/Jiebei customer questions). A share of the
topics (``--seed-share``) is already in the group's FAQ on day one (question = the pair's first wording).
Every other topic's first wording is asked in a week drawn at random, and its paraphrase in a later week drawn
at random (within ``--max-gap`` weeks; a topic first asked in the last week returns after the replay); a
seeded topic's paraphrase comes in any week. So every week brings new topics, and the share of returning ones
grows with the history, as in a real group. Within a week the questions arrive in a random order.

Each question goes through the real product: ``Assistant.suggest`` → ``record_question`` in a real SQLite
store → the simulated expert's ``record_review``: **accept** the first draft whose source is the topic's (its
seeded FAQ entry, or a ``kb://faq/learned-<question id>`` entry an earlier review of the topic created) when
it is among the 5 served drafts, otherwise **edit**: write the topic's answer. AFQMC has no answers, so every
topic's answer is the stable synthetic text ``答案<pair id>``. At the end of each week the nightly
``rebuild_knowledge_base`` publishes a new index from the sources plus what the reviews taught, and the
assistant switches to it.

Arms, on the same questions: **loop** (the above); **no loop** (the same reviews are recorded, the index is
never rebuilt); with ``--static`` also **loop + static**: before each nightly rebuild a char-level
sentence-transformers ``StaticEmbedding`` is trained on the group's accepted pairs only
(bench/static_embedding.py; ``--static-pairs linked`` also uses edits that pasted a known answer) and used as
the embedder with ``--static-dense-weight``.

The knowledge base it starts from is ``--kb`` (default: the demo KB, data/demo: ERP FAQ, SOPs and chats, none
of which answers a Huabei question, so it is realistic background and distractors) plus the seeded FAQ
entries. Models load once (the configured classifier, MiniLM as served, dense weight as configured: 0 unless
set) and are lent to every build; the arms share the first build's vectors.

Per week and arm: recall@5 (and @1) of the *returning* questions — those whose topic the group had answered
before that week (seeded, or first asked in an earlier week): in the loop arm exactly the questions whose
answer is in the index; the share of *all* the week's questions that got the right draft in the top 5;
abstention on returning questions (a hidden answer) and on new topics (nothing to find: abstaining is right);
the decisions; and the learned entries and alternates the serving index holds. The off-topic gate is off
(``replay_settings``): it would rightly turn AFQMC's consumer-credit questions away from an ERP group, and the
replay measures the loop.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from erp_assist.domain import Decision  # noqa: E402
from erp_assist.settings import Settings  # noqa: E402

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from assistant.service import Assistant
    from assistant.tenants import SharedModels

__all__ = [
    "AFQMC", "Arm", "Ask", "Pair", "Plan", "WeekResult", "load_afqmc_pairs", "load_pairs", "plan_weeks",
    "run_replay",
]

AFQMC = ROOT.parent / "shared" / "data" / "afqmc" / "dev.jsonl"
DEMO_KB = ROOT / "data" / "demo"
DEFAULT_PLOT = ROOT / "var" / "bench" / "replay.png"
EXPERT = "replay-expert"
SEED_FILE = "replay_seed.csv"
TOP_K = 5


@dataclass(frozen=True)
class Pair:
    """One topic, worded twice: ``first`` is asked (or seeded) first, ``paraphrase`` weeks later."""

    id: str
    first: str
    paraphrase: str

    @property
    def answer(self) -> str:
        """The topic's stable synthetic answer (AFQMC has no answers)."""
        return f"答案{self.id}"

    @property
    def seed_uri(self) -> str:
        return f"kb://faq/{_seed_id(self)}"


def _seed_id(pair: Pair) -> str:
    return f"replay-seed-{pair.id}"


def load_afqmc_pairs(path: Path, limit: int | None = None, seed: int = 0) -> list[Pair]:
    """Positive AFQMC pairs in a seeded random order, each sentence in one pair only (a sentence shared by two
    pairs would make two topics one)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    positives = [r for r in rows
                 if str(r["label"]) == "1" and r["sentence1"].strip() != r["sentence2"].strip()]
    random.Random(seed).shuffle(positives)
    seen: set[str] = set()
    pairs = []
    for row in positives:
        first, paraphrase = row["sentence1"].strip(), row["sentence2"].strip()
        if first in seen or paraphrase in seen:
            continue
        seen.update((first, paraphrase))
        pairs.append(Pair(f"afqmc{row.get('idx', len(pairs))}", first, paraphrase))
        if limit and len(pairs) == limit:
            break
    return pairs


def load_pairs(path: Path) -> list[Pair]:
    """Pairs from JSONL lines ``{"id": ..., "first": ..., "paraphrase": ...}``."""
    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        try:
            pairs.append(Pair(str(row["id"]), row["first"].strip(), row["paraphrase"].strip()))
        except (KeyError, AttributeError) as exc:
            raise ValueError(f"{path}:{n}: a pair needs string fields id, first and paraphrase") from exc
    if len({p.id for p in pairs}) != len(pairs):
        raise ValueError(f"{path}: pair ids must be unique")
    return pairs


@dataclass(frozen=True)
class Ask:
    pair: Pair
    text: str
    repeat: bool  # the group answered this topic before this week


@dataclass(frozen=True)
class Plan:
    weeks: list[list[Ask]]
    seeded: list[Pair]

    @property
    def asks(self) -> int:
        return sum(map(len, self.weeks))


def plan_weeks(pairs: list[Pair], weeks: int, *, seed_share: float = 0.2, max_gap: int | None = None,
               seed: int = 0) -> Plan:
    """Which question is asked in which week (see the module docstring); deterministic for a seed.

    A fresh topic's first wording comes in any week; its paraphrase in a later week drawn uniformly (at most
    ``max_gap`` weeks later, default: any later week), so the share of returning questions grows as the
    history does. A topic first asked in the last week has no paraphrase within the replay."""
    if weeks < 2:
        raise ValueError(f"weeks={weeks}: a paraphrase comes a week or more after its first wording; use ≥ 2")
    if not 0.0 <= seed_share <= 1.0:
        raise ValueError(f"seed_share={seed_share}: a share between 0 and 1")
    if max_gap is not None and max_gap < 1:
        raise ValueError(f"max_gap={max_gap}: paraphrases come at least 1 week later")
    gap = max_gap or weeks - 1
    rng = random.Random(seed)
    order = list(pairs)
    rng.shuffle(order)
    n_seeded = round(len(order) * seed_share)
    seeded, fresh = order[:n_seeded], order[n_seeded:]
    plan: list[list[Ask]] = [[] for _ in range(weeks)]
    for pair in seeded:
        plan[rng.randrange(weeks)].append(Ask(pair, pair.paraphrase, repeat=True))
    for pair in fresh:
        first = rng.randrange(weeks)
        plan[first].append(Ask(pair, pair.first, repeat=False))
        if first < weeks - 1:
            later = first + rng.randint(1, min(gap, weeks - 1 - first))
            plan[later].append(Ask(pair, pair.paraphrase, repeat=True))
    for week in plan:
        rng.shuffle(week)
    return Plan(plan, seeded)


@dataclass(frozen=True)
class Arm:
    """One way of running the group: ``loop`` rebuilds nightly from reviews; ``static`` trains a static
    embedding on the reviews' pairs before each rebuild and fuses it with ``dense_weight``."""

    name: str
    loop: bool = True
    static: bool = False
    static_pairs: str = "accepted"  # or "linked"
    dense_weight: float = 0.3
    static_dim: int = 256
    static_epochs: int = 10
    static_min_pairs: int = 10  # fewer trained pairs: dense weight 0 that week

    def __post_init__(self) -> None:
        if self.static_pairs not in ("accepted", "linked"):
            raise ValueError(f"static_pairs={self.static_pairs!r}: use 'accepted' or 'linked'")
        if self.static and not self.loop:
            raise ValueError("a static embedding is trained from the loop's reviews; static needs loop=True")


@dataclass
class WeekResult:
    week: int
    asked: int = 0
    new: int = 0
    repeats: int = 0
    hits: int = 0  # repeats whose topic's source is among the served drafts
    hits_at_1: int = 0
    in_kb: int = 0  # repeats whose answer the serving index holds (without the loop: seeded topics only)
    hits_in_kb: int = 0
    abstained_new: int = 0
    abstained_repeats: int = 0
    accepted: int = 0
    edited: int = 0
    learned_entries: int = 0  # in the index that served this week
    learned_alternates: int = 0
    alternates_on_learned: int = 0  # of those, alternates of learned entries (see the report's notes)
    chunks: int = 0
    dense_weight: float = 0.0
    abstention_chosen: str = ""  # the serving build's own choice of abstention (manifest), when it made one
    trained_pairs: int = 0
    seconds_suggest: float = 0.0
    seconds_rebuild: float = 0.0  # the nightly rebuild after this week (0 without the loop)

    def metrics(self) -> dict[str, float | int]:
        """Flat metrics of the week; rates are None-free (0 when there is nothing to count)."""
        def rate(a: int, b: int) -> float:
            return round(a / b, 4) if b else 0.0

        return {
            **asdict(self),
            "recall@5": rate(self.hits, self.repeats),
            "recall@1": rate(self.hits_at_1, self.repeats),
            "recall@5_in_kb": rate(self.hits_in_kb, self.in_kb),
            "answered@5": rate(self.hits, self.asked),
            "abstain_repeats": rate(self.abstained_repeats, self.repeats),
            "abstain_new": rate(self.abstained_new, self.new),
            "abstain": rate(self.abstained_repeats + self.abstained_new, self.asked),
        }


ProgressCallback = Callable[[str, int, int], None]


@dataclass
class _ArmState:
    arm: Arm
    settings: Settings
    engine: Engine
    assistant: Assistant
    models: SharedModels
    targets: dict[str, set[str]] = field(default_factory=dict)
    results: list[WeekResult] = field(default_factory=list)
    trained_pairs: int = 0  # pairs the static embedding now serving was trained on
    seeded: set[str] = field(default_factory=set)


def _write_seed(data_dir: Path, seeded: list[Pair]) -> None:
    """The seeded topics as one more FAQ file beside the knowledge base's own."""
    with (data_dir / SEED_FILE).open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "question", "answer"])
        for pair in seeded:
            writer.writerow([_seed_id(pair), pair.first, pair.answer])


def replay_settings(base: Settings) -> Settings:
    """The configured settings, with the off-topic gate off: the replayed questions stand in for a group's
    questions, and a gate trained on ERP questions would rightly turn most of AFQMC's consumer-credit ones
    away."""
    return base.model_copy(update={"off_topic_gate": False, "top_k": TOP_K})


def _arm_settings(base: Settings, root: Path, name: str, weeks: int) -> Settings:
    # Enough builds kept that none is pruned while the replay runs; one store, index and KB copy per arm.
    return replay_settings(base).model_copy(update={
        "data_dir": root / name / "data", "index_dir": root / name / "index",
        "database_url": f"sqlite:///{root / name / 'store.db'}", "keep_builds": weeks + 2,
    })


def _counts(assistant: Assistant, result: WeekResult, engine: Engine, tenant: str) -> None:
    from assistant.store import learned_documents

    counts = assistant.index.manifest["counts"]
    result.learned_entries = int(counts.get("learned_faq_entries", 0))
    result.learned_alternates = int(counts.get("learned_alternates", 0))
    result.chunks = int(counts["chunks"])
    result.abstention_chosen = str(((assistant.index.manifest.get("fusion") or {}).get("abstention") or {})
                                   .get("chosen", ""))
    if result.learned_entries or result.learned_alternates:
        _, alternates = learned_documents(engine, tenant=tenant)
        learned_ids = {a for a in alternates if a.startswith("learned-")}
        result.alternates_on_learned = sum(len(alternates[a]) for a in learned_ids)


def _ask(state: _ArmState, ask: Ask, result: WeekResult) -> None:
    from assistant.store import record_question, record_review

    tenant = state.settings.tenant
    suggested = state.assistant.suggest(ask.text)
    question_id = record_question(state.engine, tenant=tenant, result=suggested, asker="replay",
                                  group="replay")
    targets = state.targets.setdefault(ask.pair.id, set())
    rank = next((s.rank for s in suggested.suggestions if s.source.uri in targets), None)
    result.asked += 1
    if ask.repeat:
        result.repeats += 1
        result.hits += rank is not None
        if state.arm.loop or ask.pair.id in state.seeded:
            result.in_kb += 1
            result.hits_in_kb += rank is not None
        result.hits_at_1 += rank == 1
        result.abstained_repeats += suggested.abstained
    else:
        result.new += 1
        result.abstained_new += suggested.abstained
    if rank is not None:
        record_review(state.engine, tenant=tenant, question_id=question_id, decision=Decision.ACCEPT,
                      reviewer=EXPERT, suggestion_rank=rank)
        result.accepted += 1
    else:
        record_review(state.engine, tenant=tenant, question_id=question_id, decision=Decision.EDIT,
                      reviewer=EXPERT, edited_answer=ask.pair.answer)
        # Becomes kb://faq/learned-<id> at the next rebuild (never, without the loop).
        targets.add(f"kb://faq/learned-{question_id}")
        result.edited += 1


def _nightly(state: _ArmState, week: int, workdir: Path) -> None:
    """The nightly rebuild; for a static arm, train the embedding on the pairs reviewed so far first."""
    from assistant.rebuild import rebuild_knowledge_base
    from assistant.service import Assistant
    from assistant.tenants import SharedModels

    arm = state.arm
    if not arm.static:
        rebuild_knowledge_base(state.settings, models=state.models, store=state.engine)
        state.assistant.refresh()
        return
    from assistant.store import learned_documents
    from bench.static_embedding import StaticEmbedder, accepted_pairs, linked_pairs, train_static_embedding

    tenant = state.settings.tenant
    pairs = (accepted_pairs if arm.static_pairs == "accepted" else linked_pairs)(state.engine, tenant=tenant)
    documents, alternates = learned_documents(state.engine, tenant=tenant)
    corpus = [c.search_text for c in state.assistant.index.chunks]
    corpus += [f"{d.title}\n{d.text}" for d in documents] + [a for alts in alternates.values() for a in alts]
    # A new directory per night: the build reuses vectors by embedder name; retrained weights need a new name.
    path = train_static_embedding(pairs, corpus, workdir / arm.name / "static" / f"week-{week:02d}",
                                  dim=arm.static_dim, epochs=arm.static_epochs)
    embedder = StaticEmbedder(str(path), batch_size=256).load()
    weight = arm.dense_weight if len(pairs) >= arm.static_min_pairs else 0.0
    settings = state.settings.model_copy(update={"dense_weight": weight})
    models = SharedModels(state.models.processor, embedder, state.models.classifier)
    rebuild_knowledge_base(settings, models=models, store=state.engine)
    state.settings, state.models = settings, models
    state.assistant = Assistant(settings, processor=models.processor, embedder=embedder,
                                classifier=models.classifier).load()
    state.trained_pairs = len(pairs) if arm.static_epochs else 0


def _start(arm: Arm, plan: Plan, base: Settings, models: SharedModels, kb: Path, workdir: Path,
           weeks: int, base_index: Path | None) -> _ArmState:
    """The arm's KB copy, store and first index: a copy of the shared first build (MiniLM arms), or its own
    build with an untrained static embedding."""
    from assistant.rebuild import rebuild_knowledge_base
    from assistant.service import Assistant
    from assistant.store import open_store
    from assistant.tenants import SharedModels as Models

    settings = _arm_settings(base, workdir, arm.name, weeks)
    shutil.copytree(kb, settings.data_dir)
    _write_seed(settings.data_dir, plan.seeded)
    engine = open_store(settings.database_url)
    if arm.static:
        from bench.static_embedding import StaticEmbedder, train_static_embedding

        path = train_static_embedding([], _kb_texts(settings), workdir / arm.name / "static" / "week-00",
                                      dim=arm.static_dim)
        embedder = StaticEmbedder(str(path), batch_size=256).load()
        models = Models(models.processor, embedder, models.classifier)
        settings = settings.model_copy(update={"dense_weight": 0.0})
        rebuild_knowledge_base(settings, models=models, store=engine)
    else:
        assert base_index is not None, "run_replay builds the first index for the MiniLM arms"
        shutil.copytree(base_index, settings.index_dir)
    assistant = Assistant(settings, processor=models.processor, embedder=models.embedder,
                          classifier=models.classifier).load()
    targets = {p.id: {p.seed_uri} for p in plan.seeded}
    return _ArmState(arm, settings, engine, assistant, models, targets, seeded={p.id for p in plan.seeded})


def _kb_texts(settings: Settings) -> list[str]:
    """Titles and texts of the arm's sources (the vocabulary of an untrained static embedding)."""
    from datetime import timedelta

    from indexer.loaders import load_sources

    loaded = load_sources(settings.data_dir, timedelta(minutes=settings.chat_thread_window_minutes))
    return [f"{d.title}\n{d.text}" for d in loaded.documents]


def run_replay(plan: Plan, base: Settings, models: SharedModels, arms: list[Arm], workdir: Path, *,
               kb: Path = DEMO_KB, on_progress: ProgressCallback | None = None
               ) -> dict[str, list[WeekResult]]:
    """Replay ``plan`` once per arm on the same questions; the week-by-week results of each arm.

    ``workdir`` receives each arm's KB copy, store and index; ``models`` are lent to every build."""
    from assistant.rebuild import rebuild_knowledge_base
    from assistant.store import open_store

    names = [a.name for a in arms]
    if len(set(names)) != len(names):
        raise ValueError(f"arm names must differ: {names}")
    weeks = len(plan.weeks)
    base_index: Path | None = None
    if any(not a.static for a in arms):
        # The first build, made once: every MiniLM arm starts from a copy of it (it embeds the whole KB).
        shared = _arm_settings(base, workdir, "_first_build", weeks)
        shutil.copytree(kb, shared.data_dir)
        _write_seed(shared.data_dir, plan.seeded)
        engine = open_store(shared.database_url)
        try:
            rebuild_knowledge_base(shared, models=models, store=engine)
        finally:
            engine.dispose()
        base_index = shared.index_dir
    results: dict[str, list[WeekResult]] = {}
    for arm in arms:
        state = _start(arm, plan, base, models, kb, workdir, weeks, base_index)
        done = 0
        try:
            for week, asks in enumerate(plan.weeks, start=1):
                result = WeekResult(week)
                _counts(state.assistant, result, state.engine, state.settings.tenant)
                result.dense_weight = state.settings.dense_weight or 0.0
                result.trained_pairs = state.trained_pairs
                started = time.perf_counter()
                for ask in asks:
                    _ask(state, ask, result)
                    done += 1
                    if on_progress:
                        on_progress(f"{arm.name}: week {week}", done, plan.asks)
                result.seconds_suggest = round(time.perf_counter() - started, 2)
                if arm.loop and week < weeks:
                    started = time.perf_counter()
                    _nightly(state, week, workdir)
                    result.seconds_rebuild = round(time.perf_counter() - started, 2)
                state.results.append(result)
        finally:
            state.engine.dispose()
        results[arm.name] = state.results
    return results


# ---------------------------------------------------------------------------------------------------------
# Reporting


def _pct(value: float) -> str:
    return f"{value:.0%}"


def _overall(weeks: list[WeekResult]) -> WeekResult:
    total = WeekResult(0)
    for week in weeks:
        for name in ("asked", "new", "repeats", "hits", "hits_at_1", "in_kb", "hits_in_kb", "abstained_new",
                     "abstained_repeats", "accepted", "edited"):
            setattr(total, name, getattr(total, name) + getattr(week, name))
    return total


def render_tables(results: dict[str, list[WeekResult]]) -> list:
    """Three week-by-arm tables: recall@5 of returning questions (with the loop's learned entries /
    alternates), the share of all questions answered right, and abstention on returning / new topics."""
    from rich.table import Table

    arms = list(results)
    weeks = [[results[a][i] for a in arms] for i in range(len(results[arms[0]]))]
    rows = [*weeks, [_overall(results[a]) for a in arms]]
    learning = next((a for a in arms if any(r.learned_entries for r in results[a])), None)

    def table(title: str, cell: Callable[[WeekResult], str], extra: bool = False) -> Table:
        out = Table(title=title, title_justify="left")
        out.add_column("week", justify="right")
        out.add_column("asked (new/ret.)", justify="right")
        for arm in arms:
            out.add_column(arm, justify="right")
        if extra and learning:
            out.add_column(f"learned entries / alternates ({learning})", justify="right")
        for n, row in enumerate(rows):
            last = n == len(rows) - 1
            first = row[0]
            cells = ["all" if last else str(first.week), f"{first.asked} ({first.new}/{first.repeats})"]
            cells += [cell(w) for w in row]
            if extra and learning:
                week = results[learning][n] if not last else None
                cells.append(f"{week.learned_entries} / {week.learned_alternates}" if week else "")
            out.add_row(*cells, style="bold" if last else None)
        return out

    return [
        table("recall@5 of returning questions (topic answered in an earlier week)",
              lambda w: _pct(float(w.metrics()["recall@5"])), extra=True),
        table("share of all the week's questions with the right draft in the top 5",
              lambda w: _pct(float(w.metrics()["answered@5"]))),
        table("abstained: returning questions / new topics",
              lambda w: " / ".join(_pct(float(w.metrics()[k])) for k in ("abstain_repeats", "abstain_new"))),
    ]


def plot(results: dict[str, list[WeekResult]], path: Path, title: str) -> Path:
    """recall@5 of returning questions, share of all questions answered right, and abstention, per week and
    arm, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager
    from matplotlib.ticker import MaxNLocator

    if any(f.name == "WenQuanYi Micro Hei" for f in font_manager.fontManager.ttflist):
        plt.rcParams["font.sans-serif"] = ["WenQuanYi Micro Hei", *plt.rcParams["font.sans-serif"]]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    for n, (arm, weeks) in enumerate(results.items()):
        color = f"C{n}"
        x = [w.week for w in weeks]
        metrics = [w.metrics() for w in weeks]
        axes[0].plot(x, [m["recall@5"] for m in metrics], "o-", color=color, label=arm)
        axes[1].plot(x, [m["answered@5"] for m in metrics], "o-", color=color, label=arm)
        axes[2].plot(x, [m["abstain_repeats"] for m in metrics], "o-", color=color, label=f"{arm}: returning")
        axes[2].plot(x, [m["abstain_new"] for m in metrics], "s--", color=color, alpha=0.6,
                     label=f"{arm}: new")
    axes[0].set(title="recall@5 of returning questions\n(topic answered in an earlier week)",
                ylabel="recall@5")
    axes[1].set(title="share of all the week's questions\nwith the right draft in the top 5", ylabel="share")
    axes[2].set(title="abstention\n(returning: a hidden answer; new: right to abstain)",
                ylabel="share abstained")
    for axis in axes:
        axis.set(xlabel="simulated week", ylim=(-0.02, 1.02))
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=600, help="topics (question pairs) replayed")
    parser.add_argument("--weeks", type=int, default=8, help="simulated weeks (default 8)")
    parser.add_argument("--seed-share", type=float, default=0.2, help="share of topics in the FAQ on day one")
    parser.add_argument("--max-gap", type=int, help="most weeks between a topic's wordings (default: any)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the pair sample and the schedule")
    parser.add_argument("--pairs-file", type=Path, help="JSONL pairs {id, first, paraphrase}, not AFQMC")
    parser.add_argument("--kb", type=Path, default=DEMO_KB, help="knowledge base to start from (data/demo)")
    parser.add_argument("--no-baseline", action="store_true", help="skip the no-loop arm")
    parser.add_argument("--static", action="store_true", help="add loop + static-embedding arms")
    parser.add_argument("--static-pairs", choices=["accepted", "linked"], nargs="+", default=["accepted"],
                        help="what the static embedding trains on (one arm each)")
    parser.add_argument("--static-dense-weight", type=float, nargs="+", default=[0.3],
                        help="dense weight(s) of the static embedding in the fusion (one arm each)")
    parser.add_argument("--static-control", action="store_true",
                        help="also an untrained static embedding per dense weight (does training help?)")
    parser.add_argument("--static-dim", type=int, default=256)
    parser.add_argument("--static-epochs", type=int, default=10)
    parser.add_argument("--plot", type=Path, default=DEFAULT_PLOT, help=f"PNG path (default {DEFAULT_PLOT})")
    parser.add_argument("--json", action="store_true", help="results as JSON (the tables go to stderr)")
    parser.add_argument("--workdir", type=Path, help="keep each arm's KB, store and index here (not temp)")
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=args.json, width=200)
    if args.pairs_file is None and not AFQMC.is_file():
        console.print(f"replay skipped: {AFQMC} is absent (../shared/data ships only with the development "
                      "workspace); pass --pairs-file FILE with your own question pairs")
        return 0
    pairs = load_pairs(args.pairs_file) if args.pairs_file else load_afqmc_pairs(AFQMC, args.pairs, args.seed)
    pairs = pairs[: args.pairs]
    plan = plan_weeks(pairs, args.weeks, seed_share=args.seed_share, max_gap=args.max_gap, seed=args.seed)
    arms = [Arm("loop")]
    if not args.no_baseline:
        arms.append(Arm("no loop", loop=False))
    if args.static:
        arms += [Arm(f"static {kind} w{weight:g}", static=True, static_pairs=kind, dense_weight=weight,
                     static_dim=args.static_dim, static_epochs=args.static_epochs)
                 for kind in args.static_pairs for weight in args.static_dense_weight]
        if args.static_control:
            arms += [Arm(f"static untrained w{weight:g}", static=True, dense_weight=weight,
                         static_dim=args.static_dim, static_epochs=0) for weight in args.static_dense_weight]
    source = args.pairs_file or AFQMC
    console.print(f"{len(pairs)} topics from {source} ({len(plan.seeded)} seeded in the FAQ), "
                  f"{plan.asks} questions over {args.weeks} weeks; knowledge base {args.kb}; "
                  f"arms: {', '.join(a.name for a in arms)}")

    from assistant.tenants import SharedModels

    base = replay_settings(Settings())
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="erp-replay-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console) as progress:
            task = progress.add_task("loading models", total=None)
            models = SharedModels.load(base)
            progress.update(task, description="first build (embeds the whole knowledge base)")
            tasks: dict[str, int] = {}

            def on_progress(stage: str, done: int, total: int) -> None:
                arm = stage.split(":")[0]
                if arm not in tasks:
                    progress.update(task, visible=False)
                    tasks[arm] = progress.add_task(stage, total=total)
                progress.update(tasks[arm], completed=done, description=stage)

            results = run_replay(plan, base, models, arms, workdir, kb=args.kb, on_progress=on_progress)
    seconds = time.perf_counter() - started
    title = (f"erp-assist knowledge loop replay: {len(pairs)} topics ({source.name}), {args.weeks} weeks, "
             f"{len(plan.seeded)} seeded; KB {args.kb.name}; accept if in top {TOP_K}, else edit")
    png = plot(results, args.plot, title)
    for table in render_tables(results):
        console.print(table)
    console.print(f"plot: {png}   ({seconds:.0f} s)")
    if args.json:  # the table and progress went to stderr
        print(json.dumps({
            "config": {"pairs": len(pairs), "weeks": args.weeks, "seed_share": args.seed_share,
                       "max_gap": args.max_gap, "seed": args.seed, "source": str(source), "kb": str(args.kb),
                       "seeded": len(plan.seeded), "questions": plan.asks, "seconds": round(seconds, 1)},
            "arms": {name: [w.metrics() for w in weeks] for name, weeks in results.items()},
            "plot": str(png),
        }, ensure_ascii=False, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
