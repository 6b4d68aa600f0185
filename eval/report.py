"""``report.json`` and a self-contained ``report.html`` (plots embedded as PNG data URIs)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

from jinja2 import Environment, select_autoescape

from eval.metrics import KS

__all__ = ["write_reports"]

_TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>erp-assist 评测报告</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font-family:system-ui,"WenQuanYi Micro Hei","Microsoft YaHei",sans-serif;margin:2rem;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}img{max-width:100%}.best{font-weight:bold;background:#eef7ee}
.notice{color:#8a6d3b}</style></head><body>
<h1>erp-assist 评测报告</h1>
<p>build <code>{{ r.build_id }}</code> · embedder <code>{{ r.embedder }}</code> · {{ r.created_at }} · code {{ r.code_version }}</p>
{% for n in r.notices %}<p class="notice">{{ n }}</p>{% endfor %}
{% for name, d in r.datasets.items() %}
<h2>{{ name }} — {{ d.n_questions }} 题, {{ d.n_chunks }} chunks</h2>
<p>dataset sha256 <code>{{ d.sha256[:16] }}</code>{% if d.skipped %} · {{ d.skipped|length }} 行被跳过{% endif %}</p>
<table><tr><th>system</th>{% for m in metrics %}<th>{{ m }}</th>{% endfor %}</tr>
{% for system, values in d.systems.items() %}<tr><td>{{ system }}</td>
{% for m in metrics %}<td class="{{ 'best' if values[m] == best[name][m] else '' }}">{{ '%.3f'|format(values[m]) }}</td>{% endfor %}</tr>{% endfor %}
</table>
<img alt="recall@k {{ name }}" src="{{ plots[name].recall }}">
{% if plots[name].modules %}<img alt="per module {{ name }}" src="{{ plots[name].modules }}">{% endif %}
{% if d.classification %}<h3>分类</h3><table>{% for k, v in d.classification.items() %}<tr><td>{{ k }}</td><td>{{ '%.3f'|format(v) }}</td></tr>{% endfor %}
{% for k, v in d.abstention.items() %}<tr><td>{{ k }}</td><td>{{ '%.3f'|format(v) }}</td></tr>{% endfor %}
{% for k, v in d.latency.items() %}<tr><td>suggest {{ k }}</td><td>{{ '%.1f'|format(v) }}</td></tr>{% endfor %}</table>
{% for head, src in plots[name].confusion.items() %}<img alt="confusion {{ head }}" src="{{ src }}">{% endfor %}{% endif %}
{% if d.skipped %}<details><summary>跳过的行</summary><ul>{% for s in d.skipped %}<li>{{ s }}</li>{% endfor %}</ul></details>{% endif %}
{% endfor %}
</body></html>
"""


def _png(fig) -> str:  # noqa: ANN001 - matplotlib figure
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _plots(dataset: dict) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict = {"confusion": {}}
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for system, values in dataset["systems"].items():
        ax.plot(KS, [values[f"recall@{k}"] for k in KS], marker="o", label=system)
    ax.set(xlabel="k", ylabel="recall@k", title=f"{dataset['name']}: recall@k", ylim=(0, 1.02), xticks=KS)
    ax.legend(fontsize=7)
    out["recall"] = _png(fig)
    out["modules"] = None
    if dataset["by_module"]:
        modules = list(dataset["by_module"])
        fig, ax = plt.subplots(figsize=(6, 3))
        xs = range(len(modules))
        ax.bar([x - 0.2 for x in xs], [dataset["by_module"][m]["recall@5"] for m in modules], 0.4, label="recall@5")
        ax.bar([x + 0.2 for x in xs], [dataset["by_module"][m]["mrr@10"] for m in modules], 0.4, label="mrr@10")
        ax.set_xticks(list(xs), modules, rotation=30, fontsize=8)
        ax.set(ylim=(0, 1.05), title=f"{dataset['name']}: hybrid per module")
        ax.legend(fontsize=7)
        out["modules"] = _png(fig)
    for head, cm in dataset.get("confusion", {}).items():
        labels, matrix = cm["labels"], cm["matrix"]
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(labels)), labels, rotation=45, fontsize=7)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
        for i, row in enumerate(matrix):
            for j, value in enumerate(row):
                ax.text(j, i, str(value), ha="center", va="center", fontsize=7)
        ax.set(xlabel="predicted", ylabel="gold", title=f"{head} confusion")
        out["confusion"][head] = _png(fig)
    return out


def write_reports(report: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``out_dir``; return both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    metrics = [f"recall@{k}" for k in KS] + ["mrr@10", "ndcg@10"]
    best = {
        name: {m: max(v[m] for v in d["systems"].values()) for m in metrics} for name, d in report["datasets"].items()
    }
    plots = {name: _plots(d) for name, d in report["datasets"].items()}
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
    html = env.from_string(_TEMPLATE).render(r=report, metrics=metrics, best=best, plots=plots)
    html_path = out_dir / "report.html"
    html_path.write_text(html, encoding="utf-8")
    return json_path, html_path
