# Two entry points, both from a fresh clone: `make run` (demo) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install install-test lock browser postgres run test index eval serve clean

# Installs come from lock files (exact versions with sha256 hashes), installed by uv (seconds where pip takes
# minutes); `make lock` refreshes them. The indexes are pip's on this machine: PyPI, the local mirrors, and the
# CPU build of torch in /opt/wheels.
RUN_LOCK  := requirements/run.lock
TEST_LOCK := requirements/test.lock
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
UV_VERSION := 0.13.9
UV_INDEXES := --find-links /opt/wheels --extra-index-url file:///opt/pypi/simple \
              --extra-index-url file:///opt/pypi-more/simple --index-strategy unsafe-best-match
UV_INSTALL := $(BIN)/uv pip install --python $(BIN)/python $(UV_INDEXES)

$(BIN)/uv:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "erp-assist needs Python 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)

# What `make run` needs: indexing, answering and serving, no torch.
$(RUN_STAMP): $(RUN_LOCK) pyproject.toml | $(BIN)/uv
	$(UV_INSTALL) --require-hashes -r $(RUN_LOCK)
	$(UV_INSTALL) --no-deps -e .
	touch $@

# Everything the tests use: the transformer embedder (torch==2.13.0, the CPU build on local disk), Milvus Lite,
# the LangChain peer, a Tryton ERP, Playwright.
$(TEST_STAMP): $(TEST_LOCK) pyproject.toml | $(BIN)/uv
	$(UV_INSTALL) --require-hashes -r $(TEST_LOCK)
	$(UV_INSTALL) --no-deps -e .
	touch $@ $(RUN_STAMP)

install: $(RUN_STAMP)

install-test: $(TEST_STAMP)

# Refresh both lock files from pyproject.toml. The run lock is constrained by the test lock, so the two never pin
# a shared package differently.
lock: | $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
	  --no-emit-package erp-assist $(UV_INDEXES) -o $(TEST_LOCK)
	$(BIN)/uv pip compile pyproject.toml --generate-hashes --python-version 3.11 -c $(TEST_LOCK) \
	  --no-emit-package erp-assist $(UV_INDEXES) -o $(RUN_LOCK)

index: install
	$(BIN)/erp-assist index

run: install
	$(BIN)/erp-assist train-classifier
	$(BIN)/erp-assist index
	$(BIN)/erp-assist ask "月结时提示凭证未过账怎么办"
	$(BIN)/erp-assist keys create --role admin --name demo
	$(BIN)/erp-assist serve

eval: install
	$(BIN)/erp-assist eval

# Debian's Chromium for the browser tests, and a CJK font so screenshots and plots show Chinese.
browser:
	@test -x /usr/bin/chromium && fc-list 2>/dev/null | grep -qi "wenquanyi" || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-wqy-microhei; } || \
	  echo "chromium could not be installed (needs root); the browser tests will be skipped"

# Debian's PostgreSQL server: tests/pgcluster.py starts a throwaway one so the store tests also run on PostgreSQL.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql; } || \
	  echo "postgresql could not be installed (needs root); the PostgreSQL tests will be skipped"

test: install-test browser postgres
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

clean:
	rm -rf var .pytest_cache
