# A newcomer needs `make repro` (the study), `make test` and `make lab` (the notebooks).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pip constraints for torch; empty (`make setup CONSTRAINTS=`) keeps a torch you installed yourself
CONSTRAINTS ?= constraints.txt
COCO_URL := http://images.cocodataset.org

.PHONY: setup test repro lab coco clean

setup: $(STAMP)

# Re-install when the dependency list or the torch pins change.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[test]'
	touch $(STAMP)

test: setup
	$(BIN)/python -m pytest -q

repro: setup
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/dvc repro

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
	rm -rf $(VENV) runs data/synth
