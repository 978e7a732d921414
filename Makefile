# A newcomer needs `make repro` (the study), `make test` and `make lab` (the notebooks).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Datumaro, the COCO importer CVAT uses, in a venv of its own for tests/test_snap_exports.py: it pins
# pandas 2.3, Pillow 12 and OpenCV 4, older than the study's
DATUMARO := .venv-datumaro
# Label Studio, for tests/test_labelstudio.py (bbadj serve in a real Label Studio), in a venv of its own: Django
# and its own pins, about 1 GB; sentry-sdk 3 removed an option that Label Studio 1.23 passes as it starts.
LABELSTUDIO := .venv-labelstudio
# pip constraints for torch; empty (`make setup CONSTRAINTS=`) keeps a torch you installed yourself
CONSTRAINTS ?= constraints.txt
COCO_URL := http://images.cocodataset.org

.PHONY: setup test repro repro-long docs-samples lab coco clean exp-show plots-template

setup: $(STAMP)

# Re-install when the dependency list or the torch pins change.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[test]'
	touch $(STAMP)

$(DATUMARO)/.installed:
	$(PYTHON) -m venv $(DATUMARO)
	$(DATUMARO)/bin/pip install --quiet 'datumaro==1.13.12'
	touch $@

$(LABELSTUDIO)/.installed:
	$(PYTHON) -m venv $(LABELSTUDIO)
	$(LABELSTUDIO)/bin/pip install --quiet 'label-studio==1.23.2' 'sentry-sdk<3'
	touch $@

test: setup $(DATUMARO)/.installed $(LABELSTUDIO)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q --durations=15

repro: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dvc repro

# the long tier (long/dvc.yaml, docs/tiers.md); its report also needs the default tier's results
repro-long: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dvc repro long/dvc.yaml

# `dvc exp show` that fits the terminal (README "Compare experiments"): the params that differ from one
# run to another and the headline metrics, EXP_METRICS of the rows EXP_ROWS (regular expressions),
# under short names (scripts/exp_table.py). DVC's own table names each metric column
# reports/metrics/<row>/<set>.json:<key> and shows `…` at 120 columns.
EXP_ROWS ?= identity|l4|fpn
EXP_METRICS ?= miou|edge1
HERE := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))
exp-show:
	$(BIN)/dvc exp show --csv --only-changed --drop 'Created|.*/|data$$|bbadj$$|notebooks$$' --keep 'reports/metrics/($(EXP_ROWS))/[^/]+[.]json:($(EXP_METRICS))$$' | $(BIN)/python $(HERE)scripts/exp_table.py

# .dvc/offline_plots.html: `dvc plots show` / `dvc plots diff` offline (vega bundled by vl-convert-python)
plots-template: setup
	$(BIN)/python scripts/dvc_plots_template.py

# the README's `bbadj show` sample from the committed study (tests/test_readme.py checks its numbers) and
# docs/snap_notebook.png, the snap notebook in headless Chromium (tests/test_snap_notebook.py), and
# docs/img/labelstudio_snap.png, bbadj serve in Label Studio (tests/test_labelstudio.py; BBADJ_TRAINED_MODEL=path
# for a trained model's snap, else the study's runs/long/l4 or runs/l4 seed 0 when there is one, else the shipped model)
docs-samples: setup $(LABELSTUDIO)/.installed
	$(BIN)/python scripts/readme_show.py
	BBADJ_SNAP_SCREENSHOT=$(CURDIR)/docs/snap_notebook.png $(BIN)/python -m pytest -q -m slow tests/test_snap_notebook.py
	BBADJ_LS_SCREENSHOT=$(CURDIR)/docs/img/labelstudio_snap.png $(BIN)/python -m pytest -q -m slow tests/test_labelstudio.py -k labeling_page

# JupyterLab at the repository root, on this project's kernel (.venv)
lab: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/jupyter lab --notebook-dir=$(CURDIR)

# MS COCO 2017 for params/paper-coco.yaml: about 19 GB of zips into data/coco/ (needs internet)
coco:
	mkdir -p data/coco
	cd data/coco && for z in zips/train2017.zip zips/val2017.zip annotations/annotations_trainval2017.zip; do \
	  curl -fL --retry 3 -C - -o $$(basename $$z) $(COCO_URL)/$$z && $(CURDIR)/$(BIN)/python -m zipfile -e $$(basename $$z) . \
	  && rm $$(basename $$z) || exit 1; done
	ls data/coco/train2017 | wc -l; ls data/coco/val2017 | wc -l; ls data/coco/annotations

clean:
	rm -rf $(VENV) $(DATUMARO) $(LABELSTUDIO) runs data/synth
