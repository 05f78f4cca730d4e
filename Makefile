# Nubia retention assistant. `make run` sets everything up and starts the product;
# `make test` runs every check. See README.md.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
RASA := $(VENV)/bin/rasa
STAMP := $(VENV)/.installed
NODE_STAMP := web/node_modules/.installed
MODEL_STAMP := models/.trained

# Rasa 3.6 runs on Python 3.8-3.10: use python3.10 from PATH, else pyenv's 3.10.
PYTHON310 := $(shell command -v python3.10 >/dev/null 2>&1 && python3.10 -c 'import sys; print(sys.executable)' 2>/dev/null)
ifeq ($(PYTHON310),)
PYTHON310 := $(lastword $(sort $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.10*/bin/python3.10)))
endif

# Gates of the NLU evaluation in `make test` (docs/benchmarks.md). Measured 0.982 / 0.943 / 0.904
# (held-out cancel F1, reason macro-F1, shared-set cancel F1); the targets are 0.97 / 0.90 / 0.90.
# The shared-set gate is the target itself, without margin: the chosen pipeline is deterministic.
GATE_CANCEL_F1 ?= 0.97
GATE_REASON_F1 ?= 0.93
GATE_SHARED_F1 ?= 0.90
# What the product does with a first message (model + the rule's action + the words read by
# RetentionService.opening, tests/support/first_message.py), on the held-out set: measured
# 0.963, target 0.97; the gate keeps it from falling back (the implicit and fresh sets are reported).
GATE_FIRST_MESSAGE_F1 ?= 0.95

NLU_DATA := $(shell find data -name '*.yml' 2>/dev/null)
TRAIN_INPUTS := $(NLU_DATA) domain.yml config.yml bot/nlu/components.py bot/nlu/featurizers.py bot/nlu/classifiers.py bot/nlu/model.py bot/nlu/typos.py bot/core/language.py

export PYTHONPATH := $(CURDIR)
export TF_CPP_MIN_LOG_LEVEL := 3
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export RASA_TELEMETRY_ENABLED := false
# What the CLIs write under var/ (databases, secrets) is their owner's only (files 0600); the
# Procfile processes set the same umask themselves.
PRIVATE := umask 077 &&

.PHONY: help setup venv db train run test test-unit test-rasa lint benchmark risk-model campaign dashboard-user clean

help:
	@echo "make run        set everything up and start the assistant (Ctrl-C stops all)"
	@echo "make test       run every test and check (pytest, data validation, story tests, NLU eval)"
	@echo "make setup      only create .venv, install npm packages, migrate and seed the database"
	@echo "make train      train the model if data or config changed"
	@echo "make dashboard-user NAME=ana [ROLE=supervisor|agent|admin]  create a dashboard login"
	@echo "make campaign   send due cold (win-back) SMS now (schedule it, e.g. every 15 minutes)"
	@echo "make benchmark  NLU cross-validation + shared eval set + baseline comparison (docs/benchmarks.md)"
	@echo "make risk-model retrain the churn-risk model (time split) and print its AUC, baseline AUC, Brier, top-decile precision"

$(STAMP): requirements.txt constraints.txt
	@if [ -z "$(PYTHON310)" ]; then \
	  echo "ERROR: Python 3.10 not found. Rasa 3.6 needs Python 3.8-3.10." >&2; \
	  echo "Install it (e.g. 'pyenv install 3.10') so that python3.10 is on PATH." >&2; exit 1; fi
	@echo "==> creating $(VENV) with $(PYTHON310)"
	@test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip<24.1" "setuptools<71" wheel
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip check
	@touch $@

venv: $(STAMP)

$(NODE_STAMP): web/package.json web/package-lock.json
	@command -v npm >/dev/null || { echo "ERROR: npm (Node.js) is needed for the website widget." >&2; exit 1; }
	npm ci --prefix web --no-audit --no-fund --loglevel=error
	@touch $@

db: $(STAMP)
	$(PRIVATE) $(PY) -m bot.storage.seed
	$(PRIVATE) $(PY) -m analytics.demo_data

setup: $(STAMP) $(NODE_STAMP) db

$(MODEL_STAMP): $(STAMP) $(TRAIN_INPUTS)
	$(PRIVATE) $(RASA) train --fixed-model-name retention --out models
	@touch $@

train: $(MODEL_STAMP)

RISK_MODEL := models/churn_risk.joblib
$(RISK_MODEL): $(STAMP) $(wildcard bot/risk/*.py)
	$(PRIVATE) $(PY) -m bot.cli.risk_model train

run: setup train $(RISK_MODEL)
	$(PY) -m bot.config.check
	@echo ""
	@echo "  Website demo (chat widget):  http://localhost:8080"
	@echo "  Rasa server (REST, socket.io): http://localhost:5005  (REST: /webhooks/rest/webhook)"
	@echo "  Action server:               http://127.0.0.1:5055  (loopback only, needs X-Action-Token)"
	@echo "  Supervisor dashboard:        http://localhost:8050  (create a login: make dashboard-user NAME=ana)"
	@echo "  Twilio webhooks:             /webhooks/twilio/webhook (SMS), /webhooks/twilio_voice/webhook (voice)"
	@echo "  Ctrl-C stops everything."
	@echo ""
	SMS_DEMO_PHONE=$${SMS_DEMO_PHONE:-1} $(VENV)/bin/honcho start -f Procfile

test: setup train lint test-unit test-rasa

lint: $(STAMP)
	$(VENV)/bin/ruff check bot actions analytics tests

test-unit: $(STAMP) $(MODEL_STAMP)
	$(PY) -m pytest -q

test-rasa: $(STAMP) $(MODEL_STAMP)
	$(RASA) data validate --max-history 4
	$(RASA) test core --stories tests/stories --model models/retention.tar.gz \
	  --fail-on-prediction-errors --out results/core
	$(PY) -m bot.nlu.evaluation --model models/retention.tar.gz --out results/nlu \
	  --min-cancel-f1 $(GATE_CANCEL_F1) --min-reason-f1 $(GATE_REASON_F1) --min-shared-f1 $(GATE_SHARED_F1)
	$(PY) -m tests.support.first_message --model models/retention.tar.gz --out results/nlu \
	  --min-holdout-f1 $(GATE_FIRST_MESSAGE_F1)

dashboard-user: $(STAMP)
	$(PRIVATE) $(PY) -m analytics.users create $(or $(NAME),supervisor) --role $(or $(ROLE),supervisor)

campaign: $(STAMP)
	$(PRIVATE) $(PY) -m bot.cli.campaigns run

benchmark: $(STAMP)
	$(PY) -m bot.nlu.benchmark

risk-model: $(STAMP)
	@$(PRIVATE) $(PY) -m bot.cli.risk_model train
	@touch $(RISK_MODEL)

clean:
	rm -rf models results .rasa .pytest_cache
