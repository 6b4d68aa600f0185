"""Publishing never breaks serving: crashes, shrinking builds, rollback, concurrent builds."""

import os
import signal
import subprocess
import sys
import time

import pytest

from indexer.build import _build_lock, build_index, finished_builds, rollback
from indexer.errors import BuildRefusedError
from indexer.index import current_build_dir, load_index
from tests.conftest import ROOT


def _env(settings):
    return {**os.environ, "ERP_ASSIST_DATA_DIR": str(settings.data_dir), "ERP_ASSIST_INDEX_DIR": str(settings.index_dir),
            "ERP_ASSIST_CLASSIFIER_PATH": str(settings.classifier_path), "HF_HUB_OFFLINE": "1",
            "ERP_ASSIST_DATABASE_URL": settings.database_url}


@pytest.mark.parametrize("kill_after", [1.5, 4.0, 7.0])
def test_killed_build_leaves_the_published_index_serving(settings, kb_copy, embedder, processor, kill_after):
    from assistant.service import Assistant

    settings = settings.model_copy(update={"data_dir": kb_copy})
    published = build_index(settings, embedder=embedder, processor=processor).build_id
    (kb_copy / "faq.csv").write_text((kb_copy / "faq.csv").read_text(encoding="utf-8")
                                     + "t-x,新增问题？,新增答案。,finance,,2024-12-03\n", encoding="utf-8")
    build = subprocess.Popen([sys.executable, "-m", "erp_assist.cli", "index"], cwd=ROOT, env=_env(settings),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(kill_after)
    build.send_signal(signal.SIGKILL)
    build.wait()
    # Either the kill came first and the old build still serves, or the new build had been published whole.
    serving = current_build_dir(settings.index_dir)
    assert serving.name == published or (serving / "manifest.json").is_file() and not serving.name.endswith(".partial")
    load_index(serving)
    result = Assistant(settings).load().suggest("账号被锁了登不上")
    assert result.suggestions[0].source.uri == "kb://faq/t-sys-1"
    # The next build cleans up after the crash and publishes.
    after = build_index(settings, embedder=embedder, processor=processor)
    assert current_build_dir(settings.index_dir).name == after.build_id
    assert not list((settings.index_dir / "builds").glob("*.partial"))


def test_build_that_loses_most_chunks_is_not_published(settings, kb_copy, embedder, processor):
    settings = settings.model_copy(update={"data_dir": kb_copy})
    published = build_index(settings, embedder=embedder, processor=processor).build_id
    lines = (kb_copy / "faq.csv").read_text(encoding="utf-8").splitlines()
    (kb_copy / "faq.csv").write_text("\n".join(lines[:2]) + "\n", encoding="utf-8")
    for path in (kb_copy / "sops").glob("*"):
        path.unlink()
    with pytest.raises(BuildRefusedError, match="not published"):
        build_index(settings, embedder=embedder, processor=processor)
    assert current_build_dir(settings.index_dir).name == published


def test_rollback_returns_to_the_previous_build(settings, kb_copy, embedder, processor):
    settings = settings.model_copy(update={"data_dir": kb_copy})
    first = build_index(settings, embedder=embedder, processor=processor).build_id
    (kb_copy / "faq.csv").write_text((kb_copy / "faq.csv").read_text(encoding="utf-8")
                                     + "t-y,又一个问题？,又一个答案。,finance,,2024-12-03\n", encoding="utf-8")
    second = build_index(settings, embedder=embedder, processor=processor).build_id
    assert finished_builds(settings.index_dir) == [first, second]
    assert rollback(settings) == first
    assert current_build_dir(settings.index_dir).name == first


def test_only_one_build_at_a_time(settings):
    with _build_lock(settings.index_dir):
        with pytest.raises(BuildRefusedError, match="another build"):
            with _build_lock(settings.index_dir):
                pass
