# Two entry points, both from a fresh clone: `make run` (demo) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install browser postgres run test index eval serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "erp-assist needs Python 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The CPU build of torch lies on local disk; any other spec would download GBs of CUDA wheels.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

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

test: install browser postgres
	$(BIN)/python -m pytest -q; rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests collected"; exit 0; fi; exit $$rc

clean:
	rm -rf var .pytest_cache
