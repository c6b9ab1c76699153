# `make search`: set up .venv and run the bundled car query end to end.
# `make test`:   set up .venv and run the test suite (what CI runs).
VENV ?= .venv
PY := $(VENV)/bin/python
CONFIG ?= conf/car.yaml

.PHONY: setup search test ui clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

setup: $(VENV)/.installed

search: setup
	$(VENV)/bin/autocrop search $(CONFIG)

test: setup
	$(PY) -m pytest

ui: setup
	$(VENV)/bin/mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db --default-artifact-root ./mlruns/artifacts --host 127.0.0.1 --port 5000

clean:
	rm -rf .autocrop-cache mlruns/mlflow.db mlruns/optuna.db mlruns/optuna.journal mlruns/artifacts
