"""The ``erp-assist`` command line: a thin shell over the core that formats results for people."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from erp_assist.errors import ErpAssistError, InvalidQuestionError
from erp_assist.settings import DEFAULT_TENANT, Settings

app = typer.Typer(
    help="erp-assist: answers for ERP support groups from their own FAQ, SOPs and chat history.\n\n"
    "Example: erp-assist index && erp-assist ask \"月结时提示凭证未过账怎么办\"",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)

_STAGES = {"load": "读取知识源", "tokenize": "分词 (BM25)", "embed": "向量化",
           "tune": "选择融合权重与拒答阈值",
           "milvus": "写入 Milvus（含向量化）", "write": "写入索引", "publish": "发布"}


@contextmanager
def _progress(labels: dict[str, str] | None = None) -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress bar per stage; the core reports ``(stage, done, total)`` through the callback."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        tasks: dict[str, int] = {}

        def on_progress(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task((labels or {}).get(stage, stage), total=max(total, 1))
            progress.update(tasks[stage], completed=done if total else 1, total=max(total, 1))

        yield on_progress


def _settings(tenant: str | None = None) -> Settings:
    """The configured settings, or those of ``tenant`` (its own sources and index); an unknown tenant is an error."""
    settings = Settings()
    if tenant is None or tenant == settings.tenant:
        return settings
    from assistant.store import NotFoundError, get_tenant, open_store, validate_tenant_id

    try:
        validate_tenant_id(tenant)
        tenant_settings = settings.for_tenant(tenant)
    except ValueError as exc:
        raise _fail(exc, code=2) from exc
    if tenant != DEFAULT_TENANT:
        store = open_store(settings.database_url)
        try:
            get_tenant(store, tenant_id=tenant)
        except NotFoundError as exc:
            raise _fail(exc) from exc
        finally:
            store.dispose()
    return tenant_settings


def _fail(exc: Exception, code: int = 1) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(code)


_TENANT_HELP = "Tenant id (default: the configured tenant, normally `default`)"
TenantOption = Annotated[Optional[str], typer.Option("--tenant", help=_TENANT_HELP)]

index_app = typer.Typer(help="Build, publish and roll back the knowledge-base index.")
app.add_typer(index_app, name="index")


@index_app.callback(invoke_without_command=True)
def index(
    ctx: typer.Context,
    data_dir: Annotated[Optional[Path], typer.Option(help="Knowledge-base directory (default: settings)")] = None,
    gate: Annotated[bool, typer.Option(help="Evaluate the new build on the golden set first; publish only "
                                            "if recall@5, MRR@10 and module F1 did not drop (nightly use)")] = False,
    tenant: TenantOption = None,
) -> None:
    """Build the index from the knowledge base (and what its reviews taught) and publish it atomically.

    Nightly (cron): 0 2 * * * cd /srv/erp-assist && .venv/bin/erp-assist index --gate

    Example: erp-assist index --data-dir data/demo   ·   erp-assist index --tenant acme   ·   erp-assist index rollback
    """
    if ctx.invoked_subcommand is not None:
        return

    settings = _settings(tenant)
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    with _progress(_STAGES) as on_progress:
        try:
            from assistant.rebuild import rebuild_knowledge_base
            from indexer.index import has_vectors

            report = rebuild_knowledge_base(settings, progress=on_progress, publish=not gate)
        except ErpAssistError as exc:
            raise _fail(exc) from exc
    manifest = report.manifest
    table = Table(title=f"索引构建完成 build {report.build_id}")
    table.add_column("项目")
    table.add_column("数量", justify="right")
    for source, count in sorted(manifest["counts"]["by_source"].items()):
        table.add_row(f"chunks: {source}", str(count))
    table.add_row("chunks 合计", str(manifest["counts"]["chunks"]))
    table.add_row("聊天线程 已解决 / 未解决", f"{manifest['counts']['chat_threads_resolved']} / "
                  f"{manifest['counts']['chat_threads_unresolved']}")
    table.add_row("复用向量 (未变更 chunk)", str(report.reused_embeddings))
    table.add_row("复用分词 (未变更 chunk)", str(report.reused_tokens))
    table.add_row("跳过的文件", str(len(report.skipped)))
    table.add_row("耗时 (s)", f"{report.seconds:.1f}")
    console.print(table)
    stages = (f"{stage} {seconds:.2f} s" for stage, seconds in report.stage_seconds.items() if seconds >= 0.005)
    console.print("耗时分布: " + " · ".join(stages))
    for skipped in report.skipped:
        err.print(f"[yellow]skipped[/] {skipped.path}: {skipped.reason}")
    if not has_vectors(manifest):
        console.print(f"向量: 未计算 — {manifest['embedder']['reason']}")
    if "fusion" in manifest:
        console.print(f"融合权重: {manifest['fusion']['reason']}")
        if "abstain_reason" in manifest["fusion"]:
            console.print(f"拒答阈值: {manifest['fusion']['abstain_reason']}")
    if gate:
        from eval.gate import gated_publish

        with console.status("evaluating the new build on the tenant's golden set…"):
            result = gated_publish(settings, report.build_id, settings.gate_max_drop)
        if not result.published:
            for failure in result.failures:
                err.print(f"[bold red]regression[/] {failure}")
            err.print(f"[bold red]not published[/]: build {report.build_id} is kept aside; the current index still serves")
            raise typer.Exit(3)
        if result.dataset is None:
            err.print(f"[yellow]published {report.build_id} without the quality gate[/]: tenant {settings.tenant} has "
                      f"no golden set; put one at {settings.tenants_dir / settings.tenant / 'golden.jsonl'}")
        else:
            console.print(f"[green]published {report.build_id}[/] (no regression on {result.dataset.name})")
    if manifest.get("hygiene"):
        h = manifest["hygiene"]
        if "error" in h:
            err.print(f"[yellow]knowledge-base check skipped[/]: {h['error']}")
        else:
            console.print(f"知识库体检: 重复 {h['duplicate_groups']} 组 · 矛盾 {h['contradictions']} 对 · 过期 "
                          f"{h['stale']} 条 (详情: erp-assist kb check, 或审核页 /ui/kb)")
    rate = manifest["embedder"].get("unknown_token_rate", 0.0)
    if rate > 0.2:
        err.print(f"[yellow]warning:[/] embedder {manifest['embedder']['name']} maps {rate:.0%} of the corpus to "
                  "unknown tokens: it does not read most of your text; set ERP_ASSIST_EMBEDDER to a Chinese model")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="The question, as an ERP group member would ask it")],
    top_k: Annotated[Optional[int], typer.Option(help="Number of drafts")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
    tenant: TenantOption = None,
) -> None:
    """Tag a question and show ranked draft answers with their sources (from the tenant's knowledge base).

    Example: erp-assist ask "月结时提示凭证未过账怎么办"   ·   erp-assist ask --tenant acme "…"
    """
    from assistant.service import Assistant

    settings = _settings(tenant)
    try:
        result = Assistant(settings).load().suggest(question, top_k=top_k)
    except InvalidQuestionError as exc:
        raise _fail(exc, code=2) from exc
    except ErpAssistError as exc:
        raise _fail(exc) from exc
    if as_json:
        from assistant.schemas import SuggestResponse

        console.print_json(SuggestResponse.from_result(result, question_id=None).model_dump_json())
        return
    c = result.classification
    if result.off_topic:
        console.print(f"[yellow]这条消息看起来与ERP无关（闲聊概率 {result.off_topic_probability:.2f}），不生成草稿。[/]")
        return
    console.print(f"[bold]模块[/] {c.module} ({c.module_confidence:.2f})   [bold]紧急度[/] {c.urgency} "
                  f"({c.urgency_confidence:.2f})   依据: {'、'.join(c.cues) or '-'}")
    if result.abstained:
        console.print("[yellow]知识库中没有足够可靠的答案，已转人工（专家）处理。[/]")
        return
    table = Table(show_lines=True)
    for column in ("#", "得分", "建议答复", "来源"):
        table.add_column(column)
    for s in result.suggestions:
        draft = s.draft if len(s.draft) <= 300 else s.draft[:300] + "…"
        table.add_row(str(s.rank), f"{s.score:.2f}", draft, f"{s.source.title}\n{s.source.uri}")
    console.print(table)


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="Bind address (default: settings)")] = None,
    port: Annotated[Optional[int], typer.Option(help="Port (default: settings)")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="API processes sharing the store and the index")] = 1,
) -> None:
    """Start the HTTP API (POST /v1/suggest, GET /healthz).

    With --workers N, N processes share the port, the review store and the published index: use PostgreSQL
    (ERP_ASSIST_DATABASE_URL=postgresql+psycopg://…) when one SQLite file would be the bottleneck. Every worker
    switches to a newly published build on its next request; builds take a lock, so one runs at a time.

    Example: erp-assist serve --port 8000 --workers 2
    """
    import uvicorn

    from assistant.app import create_app

    settings = _settings()
    host, port = host or settings.api_host, port or settings.api_port
    console.print(f"serving on http://{host}:{port} with {workers} worker{'s' if workers > 1 else ''}  "
                  f"(docs: http://{host}:{port}/docs)")
    if workers == 1:
        settings = settings.model_copy(update={"api_host": host, "api_port": port})
        uvicorn.run(create_app(settings), host=host, port=port, log_level="info")
        return
    # Each worker builds its app from the same environment (and .env) as this command read, and the counters
    # of all workers go to one directory, so a /metrics scrape of any worker adds them up.
    metrics_dir = tempfile.mkdtemp(prefix="erp-assist-metrics-")
    os.environ.update({"ERP_ASSIST_API_HOST": host, "ERP_ASSIST_API_PORT": str(port),
                       "PROMETHEUS_MULTIPROC_DIR": metrics_dir})
    try:
        uvicorn.run("assistant.app:create_app", factory=True, workers=workers, host=host, port=port,
                    log_level="info", timeout_worker_healthcheck=settings.api_worker_healthcheck_seconds)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command("train-classifier")
def train_classifier(
    compare: Annotated[bool, typer.Option(
        "--compare", help="Cross-validate approaches, hold out each training file, train the best and write a report "
                          "(minutes); without it the configured approach is trained at once")] = False,
    approach: Annotated[Optional[list[str]], typer.Option(
        help="With --compare: an approach to compare (repeatable; default all). Without: the approach to train")] = None,
    folds: Annotated[Optional[int], typer.Option(help="Cross-validation folds (--compare)")] = None,
    report_dir: Annotated[Optional[Path], typer.Option(help="Where report.md/json and confusion PNGs go")] = None,
) -> None:
    """Train the question classifier (ERP_ASSIST_CLASSIFIER_APPROACH) on the labelled questions and the
    off-topic gate beside it. With --compare: compare approaches with stratified cross-validation, train the
    best, and write a report with per-class tables and confusion matrices.

    Example: erp-assist train-classifier --compare --folds 5
    """
    from models.training import train_and_report, train_only

    settings = _settings()
    if not compare:
        if approach and len(approach) > 1:
            raise _fail(ValueError("without --compare, name one --approach to train"), code=2)
        with _progress() as on_progress:
            try:
                trained = train_only(settings.taxonomy_path, settings.classifier_data_dir, settings.classifier_path,
                                     (approach or [settings.classifier_approach])[0],
                                     module_threshold=settings.module_confidence_threshold,
                                     p1_recall_target=settings.p1_recall_target, on_progress=on_progress)
            except ValueError as exc:
                raise _fail(exc, code=2) from exc
        console.print(f"trained {trained.approach} on {trained.n_questions} questions in {trained.seconds:.1f} s · "
                      f"P1 threshold {trained.p1_threshold:.3f} · saved {trained.model_path}")
        console.print("quality numbers: `erp-assist train-classifier --compare` (cross-validated, several minutes)")
        _train_gate(settings)
        return
    with _progress() as on_progress:
        try:
            report = train_and_report(
                settings.taxonomy_path, settings.classifier_data_dir, settings.classifier_path,
                report_dir or settings.classifier_report_dir, on_progress,
                approaches=approach or settings.classifier_approaches or None,
                n_folds=folds or settings.classifier_cv_folds,
                module_threshold=settings.module_confidence_threshold,
                p1_recall_target=settings.p1_recall_target,
            )
        except ValueError as exc:
            raise _fail(exc, code=2) from exc
    table = Table(title=f"{report.n_folds}-fold cross-validation, {report.n_questions} labelled questions")
    for column in ("approach", "module macro-F1", "urgency macro-F1", "P1 recall", "P1 precision", "p95 ms"):
        table.add_column(column, justify="left" if column == "approach" else "right", no_wrap=column == "approach")
    for name, heads in report.metrics.items():
        module, urgency = heads["module"], heads["urgency"]
        label = f"[bold green]{name} ✓[/]" if name == report.chosen else name
        table.add_row(label, f"{module['macro_f1']:.3f}", f"{urgency['macro_f1']:.3f}", f"{urgency['p1_recall']:.3f}",
                      f"{urgency['p1_precision']:.3f}", f"{report.latency_p95_ms.get(name, float('nan')):.1f}")
    console.print(table)
    console.print(f"chosen: {report.chosen} — {report.reason}")
    if report.by_source:
        module, urgency = report.by_source["module"], report.by_source["urgency"]
        console.print(
            f"each training file held out ({len(report.by_source_files)} files, new phrasing): module "
            f"macro-F1 {module['macro_f1']:.3f}, urgency macro-F1 {urgency['macro_f1']:.3f}, P1 recall "
            f"{urgency['p1_recall']:.3f} / precision {urgency['p1_precision']:.3f}"
        )
    console.print(f"P1 threshold {report.p1_threshold:.3f} · saved {report.model_path} ({report.n_questions} questions)")
    console.print(f"report: {report.report_md} (+ confusion PNGs, cv_errors.jsonl) · the comparison took "
                  f"{report.total_seconds:.0f} s")
    _train_gate(settings)


def _train_gate(settings: Settings) -> None:
    if not settings.off_topic_gate:
        return
    from assistant.service import train_gate

    with console.status("training the off-topic gate (5-fold threshold)…"):
        gate = train_gate(settings)
    console.print(f"off-topic gate: {gate.n_erp} ERP questions vs {gate.n_off_topic} chatter messages, threshold "
                  f"{gate.threshold:.3f} (lets {gate.erp_recall_target:.1%} of ERP questions through out of fold)"
                  f" · saved {settings.gate_path}")


@app.command()
def classify(question: Annotated[str, typer.Argument(help="Question to tag")]) -> None:
    """Print module, urgency, confidences and cue n-grams for one question.

    Example: erp-assist classify "仓库发不了货，急"
    """
    from assistant.service import load_or_train_classifier
    from models.classifier import validate_question

    settings = _settings()
    try:
        text = validate_question(question, settings.max_question_chars)
        result = load_or_train_classifier(settings).classify(text)
    except InvalidQuestionError as exc:
        raise _fail(exc, code=2) from exc
    except ErpAssistError as exc:
        raise _fail(exc) from exc
    console.print(f"模块 {result.module} ({result.module_confidence:.2f})  紧急度 {result.urgency} "
                  f"({result.urgency_confidence:.2f})  依据: {'、'.join(result.cues) or '-'}")


@app.command("eval")
def evaluate(
    dataset: Annotated[Optional[Path], typer.Option(help="Golden-format JSONL (default: eval/data/golden.jsonl)")] = None,
    out: Annotated[Path, typer.Option(help="Directory for report.json and report.html")] = Path("var/eval"),
    public: Annotated[bool, typer.Option(help="Also run AFQMC and Odoo from ../shared/data when present")] = True,
    public_limit: Annotated[Optional[int], typer.Option(help="Use only the first N AFQMC questions")] = None,
    baseline: Annotated[Optional[Path], typer.Option(help="Earlier report.json to gate against")] = None,
    max_drop: Annotated[float, typer.Option(help="Largest allowed drop of recall@5, MRR@10, module F1")] = 0.02,
) -> None:
    """Evaluate the published build: BM25 variants, dense, hybrid and LangChain's EnsembleRetriever side by
    side; module/urgency F1; abstention; latency. Exits 3 when --baseline shows a regression.

    Example: erp-assist eval --baseline var/eval/baseline.json --max-drop 0.02
    """
    from eval.gate import regressions
    from eval.report import write_reports
    from eval.runner import DEFAULT_DATASET, run_eval

    settings = _settings()
    with _progress() as on_progress:
        try:
            report = run_eval(settings, dataset or DEFAULT_DATASET, include_public=public,
                              public_limit=public_limit, on_progress=on_progress)
        except (ErpAssistError, FileNotFoundError) as exc:
            raise _fail(exc) from exc
    for notice in report.notices:
        err.print(f"[yellow]{notice}[/]")
    for result in report.datasets.values():
        if result.skipped:
            err.print(f"[yellow]{result.name}: {len(result.skipped)} line(s) skipped[/]")
            for problem in result.skipped:
                err.print(f"  {problem}")
        table = Table(title=f"{result.name}: {result.n_questions} 题 / {result.n_chunks} chunks")
        table.add_column("system", no_wrap=True)
        names = list(next(iter(result.systems.values())))
        for name in names:
            table.add_column(name, justify="right")
        best = {n: max(m[n] for m in result.systems.values()) for n in names}
        for system, metrics in result.systems.items():
            table.add_row(system, *(f"[bold green]{metrics[n]:.3f}[/]" if metrics[n] == best[n] else f"{metrics[n]:.3f}"
                                    for n in names))
        console.print(table)
        if result.classification or result.abstention:  # a set without tags still has abstention and latency
            cls = Table(title=f"{result.name}: 分类 / 拒答 / 延迟")
            cls.add_column("metric")
            cls.add_column("value", justify="right")
            for name, value in {**result.classification, **result.abstention}.items():
                cls.add_row(name, f"{value:.3f}")
            for name, value in result.latency.items():
                cls.add_row(f"suggest {name}", f"{value:.1f}")
            console.print(cls)
    data = report.to_dict()
    json_path, html_path = write_reports(data, out)
    console.print(f"report: {json_path}  {html_path}")
    if baseline is not None:
        failures = regressions(data, json.loads(baseline.read_text(encoding="utf-8")), max_drop)
        if failures:
            for failure in failures:
                err.print(f"[bold red]regression[/] {failure}")
            raise typer.Exit(3)
        console.print(f"[green]no regression against {baseline} (max drop {max_drop})[/]")


@index_app.command("rollback")
def index_rollback(tenant: TenantOption = None) -> None:
    """Publish the build before the current one (the running API switches to it; with Milvus the alias moves too).

    Example: erp-assist index rollback   ·   erp-assist index rollback --tenant acme
    """
    from indexer.build import rollback

    try:
        build_id = rollback(_settings(tenant))
    except ErpAssistError as exc:
        raise _fail(exc) from exc
    console.print(f"now published: {build_id}")


@index_app.command("publish")
def index_publish(build_id: Annotated[str, typer.Argument(help="A finished build id under index/builds")],
                  tenant: TenantOption = None) -> None:
    """Publish a finished build by id (e.g. one the shrink guard or the gate held back).

    Example: erp-assist index publish 20261129T231101755425Z-495f5b9e
    """
    from indexer.build import publish_build

    settings = _settings(tenant)
    try:
        publish_build(settings, build_id)
    except ErpAssistError as exc:
        raise _fail(exc) from exc
    console.print(f"now published: {build_id}")


@index_app.command("list")
def index_list(tenant: TenantOption = None) -> None:
    """Builds kept on disk, the published one marked, with their backend (FAISS files or a Milvus collection).

    Example: erp-assist index list   ·   erp-assist index list --tenant acme
    """
    from indexer.build import finished_builds
    from indexer.index import MANIFEST, current_build_dir, vector_store

    settings = _settings(tenant)
    try:
        current = current_build_dir(settings.index_dir).name
    except ErpAssistError:
        current = None
    table = Table(title=f"builds in {settings.index_dir}")
    for column in ("", "build", "chunks", "built at", "search backend"):
        table.add_column(column)
    for build_id in finished_builds(settings.index_dir):
        manifest = json.loads((settings.index_dir / "builds" / build_id / MANIFEST).read_text(encoding="utf-8"))
        store = vector_store(manifest)
        table.add_row("*" if build_id == current else "", build_id, str(manifest["counts"]["chunks"]),
                      manifest.get("built_at", "-"), store.get("collection", store["kind"]))
    console.print(table)


keys_app = typer.Typer(help="API keys (stored hashed; the key is shown once).", no_args_is_help=True)
review_app = typer.Typer(help="Work through the expert review queue from the terminal.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
app.add_typer(review_app, name="review")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="asker, expert or admin")],
    name: Annotated[str, typer.Option(help="Who holds the key (shown as reviewer)")] = "",
    tenant: TenantOption = None,
) -> None:
    """Create an API key of a tenant and print it once; the key sees only that tenant's knowledge base and queue.

    Example: erp-assist keys create --role expert --name 李工   ·   erp-assist keys create --tenant acme --role admin
    """
    from assistant.store import NotFoundError, create_key, open_store

    settings = _settings()
    try:
        key, plain = create_key(open_store(settings.database_url), name=name or role, role=role,
                                tenant=tenant or settings.tenant)
    except ValueError as exc:
        raise _fail(exc, code=2) from exc
    except NotFoundError as exc:
        raise _fail(exc) from exc
    console.print(f"{key.role} key for {key.name} of tenant {key.tenant} (id {key.id}): [bold]{plain}[/]")


_KEYS_TENANT = "Only this tenant's keys (default: every tenant's)"


@keys_app.command("list")
def keys_list(tenant: Annotated[Optional[str], typer.Option("--tenant", help=_KEYS_TENANT)] = None) -> None:
    """Every API key: id, name, role, tenant, created, active or revoked (the keys themselves are not stored).

    Example: erp-assist keys list   ·   erp-assist keys list --tenant acme
    """
    from assistant.store import list_keys, open_store

    settings = _settings(tenant)  # an unknown tenant is an error, not an empty table
    table = Table(title="API keys" + (f" of tenant {tenant}" if tenant else ""))
    for column in ("id", "name", "role", "tenant", "created", "status"):
        table.add_column(column, justify="right" if column == "id" else "left")
    for key in list_keys(open_store(settings.database_url), tenant=tenant):
        table.add_row(str(key.id), key.name, key.role, key.tenant, key.created_at.strftime("%Y-%m-%d %H:%M"),
                      "[red]revoked[/]" if key.revoked else "active")
    console.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id (erp-assist keys list)")],
    tenant: Annotated[Optional[str], typer.Option("--tenant", help="Refuse unless the key is this tenant's")] = None,
) -> None:
    """Revoke an API key: the API refuses it from now on and its review-page (/ui) sessions end at once.

    Example: erp-assist keys revoke 7   ·   erp-assist keys revoke 7 --tenant acme
    """
    from assistant.store import NotFoundError, open_store, revoke_key

    settings = _settings()
    try:
        key = revoke_key(open_store(settings.database_url), key_id=key_id, tenant=tenant)
    except NotFoundError as exc:
        raise _fail(exc) from exc
    console.print(f"revoked {key.role} key {key.id} ({key.name}) of tenant {key.tenant}; "
                  "its review-page sessions have ended")


@review_app.command("list")
def review_list(module: Annotated[Optional[str], typer.Option(help="Only this module")] = None,
                tenant: TenantOption = None) -> None:
    """The tenant's open questions, P1 first, then oldest.

    Example: erp-assist review list --module finance   ·   erp-assist review list --tenant acme
    """
    from assistant.store import list_queue, open_store

    settings = _settings(tenant)
    table = Table(title="待审核问题" + (f"（{settings.tenant}）" if settings.tenant != DEFAULT_TENANT else ""))
    for column in ("id", "紧急度", "模块", "问题", "草稿数", "提问时间"):
        table.add_column(column)
    for q in list_queue(open_store(settings.database_url), tenant=settings.tenant, module=module):
        table.add_row(str(q.id), q.urgency, q.module, q.text[:60], str(len(q.suggestions)),
                      q.created_at.strftime("%Y-%m-%d %H:%M"))
    console.print(table)


def _review(question_id: int, decision: str, rank: Optional[int], answer: Optional[str], note: Optional[str],
            reviewer: str, tenant: Optional[str]) -> None:
    from assistant.store import ConflictError, NotFoundError, open_store, record_review
    from erp_assist.domain import Decision

    settings = _settings(tenant)
    try:
        stored = record_review(open_store(settings.database_url), tenant=settings.tenant, question_id=question_id,
                               decision=Decision(decision), reviewer=reviewer, suggestion_rank=rank,
                               edited_answer=answer, note=note)
    except ValueError as exc:
        raise _fail(exc, code=2) from exc
    except (NotFoundError, ConflictError) as exc:
        raise _fail(exc) from exc
    console.print(f"question {question_id}: {stored.decision} recorded by {stored.reviewer}")


_REVIEWER = typer.Option(help="Your name, kept in the audit trail")


@review_app.command("accept")
def review_accept(question_id: int, rank: Annotated[int, typer.Option(help="Draft rank")] = 1,
                  reviewer: Annotated[str, _REVIEWER] = "cli", tenant: TenantOption = None) -> None:
    """Accept a draft. Example: erp-assist review accept 12 --rank 1 --reviewer 李工"""
    _review(question_id, "accept", rank, None, None, reviewer, tenant)


@review_app.command("edit")
def review_edit(question_id: int, answer: Annotated[str, typer.Option(help="The corrected answer")],
                rank: Annotated[Optional[int], typer.Option(help="Draft rank that was edited")] = None,
                reviewer: Annotated[str, _REVIEWER] = "cli", tenant: TenantOption = None) -> None:
    """Accept with a corrected answer. Example: erp-assist review edit 12 --rank 2 --answer "…" """
    _review(question_id, "edit", rank, answer, None, reviewer, tenant)


@review_app.command("reject")
def review_reject(question_id: int, note: Annotated[str, typer.Option(help="Why")] = "",
                  rank: Annotated[Optional[int], typer.Option(help="Draft rank")] = None,
                  reviewer: Annotated[str, _REVIEWER] = "cli", tenant: TenantOption = None) -> None:
    """Reject the drafts. Example: erp-assist review reject 12 --note "答非所问" """
    _review(question_id, "reject", rank, None, note or None, reviewer, tenant)


@review_app.command("retag")
def review_retag(question_id: int,
                 module: Annotated[Optional[str], typer.Option(help="The right module id")] = None,
                 urgency: Annotated[Optional[str],
                                    typer.Option(help="The right urgency: P1, P2 or P3")] = None,
                 off_topic: Annotated[Optional[bool], typer.Option(
                     "--off-topic/--on-topic", help="Chatter the gate let through / an ERP question it turned away")
                 ] = None,
                 reviewer: Annotated[str, _REVIEWER] = "cli", tenant: TenantOption = None) -> None:
    """Correct a question's module, urgency and/or off-topic flag; `labels export` turns corrections into
    training data.

    Example: erp-assist review retag 12 --urgency P1 --reviewer 李工
    """
    from assistant.store import NotFoundError, correct_tags, open_store
    from models.taxonomy import load_taxonomy

    settings = _settings(tenant)
    try:
        load_taxonomy(settings.taxonomy_path).check_tags(module, urgency)
        stored = correct_tags(open_store(settings.database_url), tenant=settings.tenant,
                              question_id=question_id, reviewer=reviewer, module=module, urgency=urgency,
                              off_topic=off_topic)
    except ValueError as exc:
        raise _fail(exc, code=2) from exc
    except NotFoundError as exc:
        raise _fail(exc) from exc
    gate = "" if off_topic is None else f", {'off-topic' if off_topic else 'an ERP question'}"
    console.print(f"question {question_id}: {stored.previous_module}/{stored.previous_urgency} → "
                  f"{stored.module or stored.previous_module}/{stored.urgency or stored.previous_urgency}{gate} "
                  f"(by {stored.reviewer})")


labels_app = typer.Typer(help="Labelled questions from the group's own history, for the classifier.",
                         no_args_is_help=True)
app.add_typer(labels_app, name="labels")


@labels_app.command("export")
def labels_export(
    out: Annotated[Optional[Path], typer.Option(
        help="Training file to write (default: <classifier data dir>/reviewed_<tenant>.jsonl)")] = None,
    tenant: TenantOption = None,
) -> None:
    """Write the questions whose tags an expert set as training data: ERP questions for the classifier (and the
    gate's ERP side), messages marked off-topic for the gate's chatter side; `train-classifier` then learns
    from them and reports how it does on them with the file held out.

    Example: erp-assist labels export --tenant acme && erp-assist train-classifier
    """
    from assistant.store import expert_labelled_questions, open_store
    from models.classifier import LabelledQuestion, write_labelled
    from models.gate import write_chatter

    settings = _settings(tenant)
    stored = expert_labelled_questions(open_store(settings.database_url), tenant=settings.tenant)
    items = [LabelledQuestion(q.text, q.module, q.urgency, f"store:{q.id}") for q in stored
             if q.module != "unknown" and not q.off_topic]
    chatter = [q.text for q in stored if q.off_topic]
    if not items and not chatter:
        raise _fail(ValueError(f"tenant {settings.tenant} has no questions with expert-set tags yet "
                               "(erp-assist review retag, or the tag form on the review page)"), code=1)
    if items:
        path = write_labelled(out or settings.classifier_data_dir / f"reviewed_{settings.tenant}.jsonl", items)
        skipped = len(stored) - len(items) - len(chatter)
        console.print(f"{len(items)} questions written to {path}"
                      + (f"; {skipped} skipped (module still unknown: set it with --module)" if skipped else ""))
    if chatter:
        path = write_chatter(settings.offtopic_data_dir / f"reviewed_{settings.tenant}.jsonl", chatter)
        console.print(f"{len(chatter)} messages experts marked off-topic written to {path}")


report_app = typer.Typer(help="Reports on how the ERP group is served.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("daily")
def report_daily(
    day: Annotated[Optional[str], typer.Option("--date", help="Local day YYYY-MM-DD (default: yesterday)")] = None,
    group: Annotated[Optional[str], typer.Option(help="Only this group")] = None,
    post: Annotated[Optional[str], typer.Option(help="Also post it: dingtalk | feishu:<chat id> | wecom:<chatid>")] = None,
    tenant: TenantOption = None,
) -> None:
    """The tenant's daily group digest: response times, first-contact resolution, knowledge use, expert points.

    Example: erp-assist report daily --date 2025-03-03 --post feishu:oc_5ad11e…
    """
    from datetime import date, datetime, timedelta, timezone

    from assistant.channels import ChannelError, make_adapter
    from assistant.group_metrics import PointRules, daily_digest, digest_table, index_sources, post_digest
    from assistant.store import open_store
    from indexer.index import current_build_dir, load_index

    settings = _settings(tenant)
    tz = timezone(timedelta(hours=settings.chat_utc_offset_hours))
    try:
        when = date.fromisoformat(day) if day else datetime.now(tz).date() - timedelta(days=1)
    except ValueError as exc:
        raise _fail(ValueError(f"--date {day!r} is not YYYY-MM-DD"), 2) from exc
    try:
        sources = index_sources(load_index(current_build_dir(settings.index_dir)).chunks)
    except ErpAssistError:
        sources = []  # nothing published yet: no list of unused sources
    digest = daily_digest(open_store(settings.database_url), when, tenant=settings.tenant, tz=tz, group=group,
                          sources=sources, points=PointRules.from_settings(settings))
    console.print(digest_table(digest))
    if post:
        platform, _, target = post.partition(":")
        try:
            post_digest(digest, make_adapter(platform, settings), target, bot_name=settings.channel_bot_name)
        except (ChannelError, ValueError) as exc:
            raise _fail(exc) from exc
        console.print(f"posted the digest to {post}")


kb_app = typer.Typer(help="Knowledge-base hygiene: duplicates, contradictions and stale sources.",
                     no_args_is_help=True)
app.add_typer(kb_app, name="kb")


def _hygiene_tables(report) -> list[Table]:  # noqa: ANN001 - indexer.hygiene.HygieneReport
    """The report as rich tables: duplicate groups, contradictions side by side, stale sources."""
    from indexer.hygiene import DIFFERENCE_LABELS

    def question(uri: str) -> str:
        entry = report.entries.get(uri)
        return f"{uri}\n{entry.question}" if entry else uri

    duplicates = Table(title=f"重复 ({len(report.duplicates)} 组)", show_lines=True)
    for column in ("finding", "建议保留", "可合并", "相似度"):
        duplicates.add_column(column)
    for group in report.duplicates:
        others = "\n".join(question(u) for u in group.uris if u != group.keeper)
        duplicates.add_row(group.id, f"{question(group.keeper)}\n[dim]{group.why_keeper}[/]", others,
                           f"{group.similarity:.2f}")
    contradictions = Table(title=f"矛盾 ({len(report.contradictions)} 对)", show_lines=True)
    for column in ("finding", "不同之处", "左", "右"):
        contradictions.add_column(column)
    for c in report.contradictions:
        lefts = [question(c.left)] + [f"[red]{s.left}[/]" for s in c.sentences]
        rights = [question(c.right)] + [f"[red]{s.right}[/]" for s in c.sentences]
        contradictions.add_row(c.id, "、".join(DIFFERENCE_LABELS.get(d, d) for d in c.differs), "\n".join(lefts),
                               "\n".join(rights))
    stale = Table(title=f"过期 ({len(report.stale)} 条)")
    for column in ("finding", "来源", "原因"):
        stale.add_column(column)
    for s in report.stale:
        stale.add_row(s.id, question(s.uri), "；".join(r.detail for r in s.reasons))
    return [duplicates, contradictions, stale]


@kb_app.command("check")
def kb_check(
    tenant: TenantOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON instead of tables")] = False,
) -> None:
    """Find duplicate, contradicting and stale entries in the tenant's knowledge base (sources + learned FAQ).

    Experts resolve each finding on the review page (/ui/kb); the next `erp-assist index` applies it.

    Example: erp-assist kb check   ·   erp-assist kb check --tenant acme --json
    """
    from assistant.kb_hygiene import check_tenant
    from assistant.store import open_store

    settings = _settings(tenant)
    store = open_store(settings.database_url)
    try:
        with console.status("checking the knowledge base…"):
            report = check_tenant(settings, store)
    except (ErpAssistError, ValueError) as exc:
        raise _fail(exc) from exc
    finally:
        store.dispose()
    if as_json:
        console.print_json(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    for table in _hygiene_tables(report):
        console.print(table)
    counts = report.counts
    console.print(f"{counts['checked']} sources checked: {counts['duplicate_groups']} duplicate groups "
                  f"({counts['duplicate_entries']} entries to merge), {counts['contradictions']} contradictions, "
                  f"{counts['stale']} stale")


tenants_app = typer.Typer(help="Tenants: a knowledge base, review queue and stats per company or group.",
                          no_args_is_help=True)
app.add_typer(tenants_app, name="tenants")


@tenants_app.command("create")
def tenants_create(
    tenant_id: Annotated[str, typer.Argument(help="Lowercase id, e.g. acme or plant_2")],
    name: Annotated[Optional[str], typer.Option(help="Display name (default: the id)")] = None,
    from_dir: Annotated[Optional[Path], typer.Option(help="Copy these sources (faq.csv, sops/, chats/) in")] = None,
) -> None:
    """Register a tenant and lay out its sources directory (an empty faq.csv, sops/, chats/ unless --from-dir).

    Example: erp-assist tenants create acme --name "Acme 机械" --from-dir /srv/kb/acme
    """
    from assistant.store import ConflictError, open_store
    from assistant.tenants import add_tenant

    settings = _settings()
    try:
        tenant, tenant_settings = add_tenant(settings, open_store(settings.database_url), tenant_id=tenant_id,
                                             name=name, from_dir=from_dir)
    except ValueError as exc:
        raise _fail(exc, code=2) from exc
    except ConflictError as exc:
        raise _fail(exc) from exc
    console.print(f"tenant [bold]{tenant.id}[/] ({tenant.name}) created; its sources: {tenant_settings.data_dir}")
    console.print("next:")
    if from_dir is None:
        console.print(f"  1. put its FAQ (faq.csv), SOPs (sops/) and chat exports (chats/) in "
                      f"{tenant_settings.data_dir}")
    else:
        console.print(f"  1. check the sources copied from {from_dir}")
    console.print(f"  2. erp-assist index --tenant {tenant.id}")
    console.print(f"  3. erp-assist keys create --tenant {tenant.id} --role admin --name <who>")


@tenants_app.command("list")
def tenants_list() -> None:
    """Every tenant: its keys, questions, open questions and published build.

    Example: erp-assist tenants list
    """
    from assistant.store import open_store
    from assistant.tenants import tenant_overview

    settings = _settings()
    table = Table(title="tenants")
    for column in ("id", "name", "keys", "questions", "open", "build", "chunks"):
        table.add_column(column, justify="right" if column in ("keys", "questions", "open", "chunks") else "left")
    for row in tenant_overview(settings, open_store(settings.database_url)):
        s, build = row.summary, row.build
        option = "" if s.tenant.id == DEFAULT_TENANT else f" --tenant {s.tenant.id}"
        table.add_row(s.tenant.id, s.tenant.name, str(s.keys), str(s.questions), str(s.open),
                      build.build_id if build else f"[yellow]none — run erp-assist index{option}[/]",
                      str(build.chunks) if build else "-")
    console.print(table)

# Live ERP lookups and alerts (issue #21) ----------------------------------------------------------------

alerts_app = typer.Typer(help="ERP alerts: checks from each tenant's erp.yaml, posted to the group once per change.",
                         no_args_is_help=True)
app.add_typer(alerts_app, name="alerts")
erp_app = typer.Typer(help="Live, read-only ERP lookups (per-tenant erp.yaml in ERP_ASSIST_ERP_CONFIG_DIR).",
                      no_args_is_help=True)
app.add_typer(erp_app, name="erp")


@alerts_app.command("run")
def alerts_run(tenant: Annotated[Optional[str], typer.Option(help="Only this tenant (default: every tenant "
                                                              "with an erp.yaml)")] = None) -> None:
    """Run the alert checks once: post what is new or changed, resolve what is gone. Schedule it with cron:

        */10 * * * * cd /srv/erp-assist && .venv/bin/erp-assist alerts run >> var/alerts.log 2>&1

    Example: erp-assist alerts run --tenant acme
    """
    from assistant.erp import ErpConfigError, ErpLookups
    from assistant.erp.alerts import run_alerts
    from assistant.erp.metrics import configured_tenants
    from assistant.store import open_store

    settings = Settings()
    tenants = [tenant] if tenant else configured_tenants(settings)
    if not tenants:
        raise _fail(ValueError(f"no tenant has an ERP configuration in {settings.erp_config_dir} "
                               "(<tenant>.yaml; see docs/erp-connectors.md)"), code=2)
    store = open_store(settings.database_url)
    lookups = ErpLookups(settings, store)
    table = Table(title="ERP alerts")
    for column in ("tenant", "posted", "unchanged", "resolved", "failed", "note"):
        table.add_column(column, justify="left" if column in ("tenant", "note") else "right")
    failed = False
    try:
        for name in tenants:
            try:
                run = run_alerts(lookups, store, name)
            except ErpConfigError as exc:
                table.add_row(name, "-", "-", "-", "-", f"[red]{exc}[/]")
                failed = True
                continue
            failed |= bool(run.error or run.failed)
            note = f"[red]{run.error}[/]" if run.error else "; ".join(a.text for a in run.posted)[:200]
            table.add_row(name, str(len(run.posted)), str(len(run.unchanged)), str(len(run.resolved)),
                          str(len(run.failed)), note)
    finally:
        lookups.close()
    console.print(table)
    if failed:
        raise typer.Exit(1)


@erp_app.command("ask")
def erp_ask(
    question: Annotated[str, typer.Argument(help="A question as the group asks it")],
    asker: Annotated[str, typer.Option(help="Who asks (for the audit trail and the rate limit)")] = "cli",
    tenant: TenantOption = None,
) -> None:
    """Answer a live-data question from the tenant's ERP (nothing for a how-to question).

    Example: erp-assist erp ask "A-1002 还有多少库存"
    """
    from assistant.erp import ErpConfigError, ErpLookups
    from assistant.store import open_store

    settings = Settings()
    lookups = ErpLookups(settings, open_store(settings.database_url))
    try:
        answer = lookups.answer(question, tenant=tenant or settings.tenant, asker=asker, channel="cli")
    except ErpConfigError as exc:
        raise _fail(exc, code=2) from exc
    finally:
        lookups.close()
    if answer is None:
        console.print("nothing looked up: not a live-data question, or no ERP for this tenant")
        return
    console.print(f"[bold]{answer.kind.value}[/] {answer.target} → {answer.outcome} ({answer.latency_ms:.0f} ms)")
    console.print(answer.text)
    if answer.outcome in ("unreachable", "not_allowed"):
        raise typer.Exit(1)


@erp_app.command("connectors")
def erp_connectors() -> None:
    """The installed ERP connector plugins (entry-point group erp_assist.connectors).

    Example: erp-assist erp connectors
    """
    from assistant.erp import available_connectors

    for name in available_connectors():
        console.print(name)


channels_app = typer.Typer(help="Chat channels that need no public URL (DingTalk Stream, Feishu long connection).",
                           no_args_is_help=True)
app.add_typer(channels_app, name="channels")


@channels_app.command("listen")
def channels_listen() -> None:
    """Open the outgoing websockets the settings ask for (ERP_ASSIST_DINGTALK_MODE=stream,
    ERP_ASSIST_FEISHU_MODE=websocket) and answer the groups until stopped; no inbound URL is needed.

    Example: ERP_ASSIST_FEISHU_MODE=websocket ERP_ASSIST_FEISHU_APP_ID=cli_… erp-assist channels listen
    """
    from assistant.channels import ChannelError
    from assistant.channels.longconn import listen
    from assistant.channels.setup import warn_if_links_unclickable
    from assistant.erp import ErpLookups
    from assistant.store import open_store
    from assistant.tenants import TenantPool

    settings = _settings()
    if settings.dingtalk_mode != "stream" and settings.feishu_mode != "websocket":
        raise _fail(ValueError("nothing to listen to: set ERP_ASSIST_DINGTALK_MODE=stream and/or "
                               "ERP_ASSIST_FEISHU_MODE=websocket (the HTTP modes are served by `erp-assist serve`)"), 2)
    warn_if_links_unclickable(settings)
    pool = TenantPool(settings).load()
    modes = [f"dingtalk={settings.dingtalk_mode}", f"feishu={settings.feishu_mode}"]
    console.print(f"listening ({', '.join(modes)}); answering from tenant {settings.channel_tenant}")
    store = open_store(settings.database_url)
    erp = ErpLookups(settings, store)  # live ERP data in chat answers, as `erp-assist serve` gives them
    try:
        listen(settings, store=store, assistant=lambda: pool.get(settings.channel_tenant), erp=erp)
    except ChannelError as exc:
        raise _fail(exc) from exc
    finally:
        erp.close()


# ERP vocabulary packs (issue #19) --------------------------------------------------------------------------

vocab_app = typer.Typer(help="ERP vocabulary packs: vendors' names for shared concepts, and the group's own words",
                        no_args_is_help=True)
app.add_typer(vocab_app, name="vocab")


@vocab_app.command("list")
def vocab_list(tenant: TenantOption = None) -> None:
    """The vocabulary packs this tenant uses (ERP_ASSIST_ERP_VENDORS, or its own vocab.yaml) and their sizes.

    Example: ERP_ASSIST_ERP_VENDORS=kingdee,sap erp-assist vocab list
    """
    from indexer.vocab import PackError, compile_vocabulary, packs_for_settings

    settings = _settings(tenant)
    try:
        taxonomy, packs, shared = packs_for_settings(settings)
        vocabulary = compile_vocabulary(taxonomy, packs, shared)
    except PackError as exc:
        raise _fail(exc, code=2) from exc
    if vocabulary is None:
        console.print("no vocabulary packs (ERP_ASSIST_ERP_VENDORS=none and no vocab.yaml)")
        return
    table = Table(title=f"vocabulary packs · {len(vocabulary.concepts)} concepts · fingerprint {vocabulary.fingerprint}")
    for column in ("vendor", "title", "concepts", "terms", "code patterns", "file"):
        table.add_column(column, justify="right" if column in ("concepts", "terms", "code patterns") else "left")
    for pack in packs:
        table.add_row(pack.vendor, pack.title, str(len(pack.concepts)), str(pack.term_count()),
                      str(len(pack.code_patterns)), str(pack.path))
    console.print(table)


@vocab_app.command("suggest")
def vocab_suggest(
    tenant: TenantOption = None,
    min_count: Annotated[int, typer.Option(help="Occurrences a candidate needs")] = 2,
    limit: Annotated[int, typer.Option(help="Candidates shown")] = 40,
    write: Annotated[bool, typer.Option("--write", help="Ask for each candidate, then add the confirmed ones to "
                                                        "<data_dir>/vocab.yaml")] = False,
    accept: Annotated[Optional[str], typer.Option(help="Add these without asking: comma list, TERM or "
                                                       "TERM=concept_id (e.g. 收料单=receiving_notice,ZMM001)")] = None,
) -> None:
    """Mine candidate terms from the tenant's sources and chat history for its own vocabulary pack.

    Codes people type, menu names in 【】 that jieba cuts apart, phrases jieba splits, and words askers use that
    no source does. Confirmed terms go to <data_dir>/vocab.yaml; rebuild the index to use them.

    Example: erp-assist vocab suggest --tenant acme   ·   erp-assist vocab suggest --accept 收料单=receiving_notice
    """
    from indexer.text import TextProcessor
    from indexer.vocab import PackError, compile_vocabulary, packs_for_settings
    from indexer.vocab_suggest import Accepted, mine_candidates, parse_accept, tenant_texts, write_tenant_pack

    settings = _settings(tenant)
    try:
        taxonomy, packs, shared = packs_for_settings(settings)
        vocabulary = compile_vocabulary(taxonomy, packs, shared)
        if accept is not None:
            path = write_tenant_pack(settings.data_dir, parse_accept(accept), taxonomy, shared)
            console.print(f"[green]added[/] {accept} to {path}; rebuild with `erp-assist index"
                          f"{' --tenant ' + tenant if tenant else ''}` to use it")
            return
        with console.status(f"reading the sources and chats of {settings.data_dir}…"):
            sources, questions = tenant_texts(settings.data_dir, experts=frozenset(settings.chat_experts))
            processor = TextProcessor.from_settings(settings, vocabulary)
            candidates = mine_candidates(sources, questions, processor, vocabulary, min_count=min_count,
                                         max_common_frequency=settings.gate_kb_word_max_frequency, limit=limit)
    except (PackError, ErpAssistError, ValueError) as exc:
        raise _fail(exc, code=2) from exc
    table = Table(title=f"候选词 · {len(sources)} 篇知识源 · {len(questions)} 条提问")
    for column in ("#", "词", "类型", "次数", "提问中", "知识源中", "可能的概念", "例句"):
        table.add_column(column, justify="right" if column in ("#", "次数", "提问中", "知识源中") else "left")
    for i, c in enumerate(candidates, 1):
        table.add_row(str(i), c.term, c.kind, str(c.count), str(c.in_questions), str(c.in_sources), c.concept or "",
                      c.example)
    console.print(table)
    if not write or not candidates:
        if candidates:
            console.print("add them with --write (asks for each) or --accept 'TERM,TERM=concept_id'")
        return
    chosen = []
    for c in candidates:
        if typer.confirm(f"add {c.term!r} ({c.kind})?", default=False):
            concept = typer.prompt("  concept id (empty: a plain word)", default=c.concept or "", show_default=True)
            chosen.append(Accepted(c.term, concept.strip() or None))
    if not chosen:
        console.print("nothing added")
        return
    try:
        path = write_tenant_pack(settings.data_dir, chosen, taxonomy, shared)
    except PackError as exc:
        raise _fail(exc, code=2) from exc
    console.print(f"[green]added {len(chosen)} terms[/] to {path}; rebuild with `erp-assist index` to use them")


def main() -> None:  # pragma: no cover - console script entry
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()


if __name__ == "__main__":  # pragma: no cover - python -m erp_assist.cli
    main()
