"""What reviews teach reaches the index: new FAQ entries, and askers' wordings as alternates of any FAQ entry,
the learned ones included."""

from __future__ import annotations

from erp_assist.domain import Document, SourceType
from indexer.build import build_index
from indexer.index import load_index


def test_an_alternate_of_a_learned_entry_is_indexed(settings, embedder, processor):
    learned = Document(SourceType.FAQ, "learned-7", "固定资产卡片怎么批量导入",
                       "在【固定资产】→【卡片管理】下载导入模板，填好后点击【批量导入】。", module="finance")
    # A later asker's wording, accepted on the learned entry's draft.
    alternates = {"learned-7": ["资产台账几百条能一次性进系统吗"], "t-sys-1": ["早上输错几次密码进不去了"]}
    report = build_index(settings, embedder=embedder, processor=processor, learned=([learned], alternates))
    index = load_index(report.path)
    [chunk] = index.chunk_by_uri("kb://faq/learned-7")
    assert chunk.metadata["alternates"] == ["资产台账几百条能一次性进系统吗"]
    assert "早上输错几次密码进不去了" in index.chunk_by_uri("kb://faq/t-sys-1")[0].metadata["alternates"]
