"""How long the bot's chat answers are, per platform, over the golden set — before and after fitting them to
each platform's limit (issue #16: WeCom markdown is cut off at 2,048 bytes).

Run: .venv/bin/python bench/channel_reply_sizes.py [--public-url https://erp-assist.example.com] [--json]
Answers every question of eval/data/golden.jsonl with the configured index (ERP_ASSIST_INDEX_DIR...), renders
the answer at full length (what was sent before) and as ``compose_answer`` sends it on each platform (shorter
excerpts, then split), and prints per platform: the limit, the longest full answer, the share of answers over
the limit, the longest message sent, and how many answers were shortened or split.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from assistant.channels import OutgoingReply, make_adapter  # noqa: E402
from assistant.channels.messages import compose_answer, render_answer  # noqa: E402
from assistant.links import link_signer  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from erp_assist.settings import Settings  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--public-url", default=None, help="ERP_ASSIST_CHANNEL_PUBLIC_URL to render links with")
    parser.add_argument("--golden", type=Path, default=ROOT / "eval" / "data" / "golden.jsonl")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()

    settings = Settings()
    settings = settings.model_copy(update={"channel_public_url": args.public_url})
    assistant = Assistant(settings).load()
    link_for = None
    if args.public_url:  # the signed links the service sends (key: ERP_ASSIST_LINK_SECRET or link_secret_path)
        signer = link_signer(settings)
        link_for = lambda uri: signer.url(args.public_url, tenant=settings.channel_tenant, uri=uri)  # noqa: E731
    adapters = [make_adapter(name, settings) for name in ("wecom", "dingtalk", "feishu")]
    questions = [json.loads(line)["question"] for line in args.golden.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    rows = {a.name: {"limit": a.max_bytes, "full_max": 0, "over": 0, "sent_max": 0, "shortened": 0, "split": 0,
                     "messages_max": 0} for a in adapters}
    for n, question in enumerate(track(questions, description="answering the golden set")):
        result = assistant.suggest(question)
        if result.off_topic:
            continue
        common = dict(question_id=n + 1, module_label="模块", drafts=settings.channel_reply_drafts,
                      bot_name=settings.channel_bot_name, public_url=settings.channel_public_url, link_for=link_for)
        for adapter in adapters:
            title, full = render_answer(result, mention=adapter.mention("expert01"), **common)
            full_size = adapter.size(OutgoingReply(title, full))
            replies = compose_answer(result, mention=adapter.mention("expert01"), fits=adapter.fits,
                                     draft_chars=settings.channel_reply_draft_chars,
                                     min_draft_chars=settings.channel_reply_min_draft_chars, **common)
            row = rows[adapter.name]
            row["full_max"] = max(row["full_max"], full_size)
            row["over"] += full_size > adapter.max_bytes
            row["sent_max"] = max(row["sent_max"], *(adapter.size(r) for r in replies))
            row["shortened"] += len(replies) == 1 and replies[0].markdown != full
            row["split"] += len(replies) > 1
            row["messages_max"] = max(row["messages_max"], len(replies))
    if args.json:
        print(json.dumps({"questions": len(questions), "public_url": args.public_url, "platforms": rows}, indent=1))
        return
    table = Table(title=f"chat answers over {len(questions)} golden questions "
                        f"(public URL: {args.public_url or 'none'}; bytes as each platform counts them)")
    for column in ("platform", "limit", "longest full answer", "over the limit", "longest message sent",
                   "shortened", "split", "most messages"):
        table.add_column(column, justify="left" if column == "platform" else "right")
    for name, row in rows.items():
        table.add_row(name, str(row["limit"]), str(row["full_max"]), f"{row['over'] / len(questions):.1%}",
                      str(row["sent_max"]), str(row["shortened"]), str(row["split"]), str(row["messages_max"]))
    Console().print(table)


if __name__ == "__main__":
    main()
