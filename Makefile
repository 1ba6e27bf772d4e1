# Orchestra: build, test and deployment checks.
#
#   make dist           dist/orchestra.pyz: the hub, its dependencies and ui/ in one file (shiv)
#   make test           the pytest suite
#   make verify-unit    systemd-analyze verify systemd/orchestra.service
#   make deploy-check   what CI runs: build the pyz, start/stop/restart it, verify the unit
#   make clean
#
# The pyz runs on any of PY_VERSIONS and ARCHS: pure-Python dependencies are shared, and the few
# compiled modules (pydantic-core, markupsafe's speedups) are installed once per Python version and
# architecture side by side -- their file names carry the ABI tag (cpython-312-aarch64-linux-gnu.so),
# so one site-packages serves them all. Debian 12 has 3.11, Ubuntu 24.04 3.12, Debian 13 3.13.
# Stable-ABI modules (psutil's _psutil_linux.abi3.so) carry no architecture in their name: each is
# renamed to its version's and architecture's tag, else the merge would keep one architecture's build.

PYTHON      ?= python3
PY_VERSIONS ?= 3.11 3.12 3.13 3.14
ARCHS       ?= x86_64 aarch64
SHIV        ?= shiv==1.0.8

BUILD := build
SITE  := $(BUILD)/site
# One download directory per target set, so that `make dist ARCHS=x86_64` never reuses another's.
empty :=
DEPS  := $(BUILD)/deps-$(subst $(empty) $(empty),-,$(strip $(PY_VERSIONS) $(ARCHS)))
PYZ   := dist/orchestra.pyz
# The pyz is rebuilt when any of these change.
SOURCES := pyproject.toml $(shell find orchestra ui -type f -not -path '*/__pycache__/*' 2>/dev/null)

.PHONY: dist test verify-unit deploy-check clean FORCE

dist: $(PYZ)

$(BUILD)/venv/bin/shiv:
	$(PYTHON) -m venv $(BUILD)/venv
	$(BUILD)/venv/bin/pip install --quiet $(SHIV)

# Dependencies (from pyproject.toml), as wheels only, once per target Python and architecture.
$(DEPS)/.stamp: pyproject.toml Makefile $(BUILD)/venv/bin/shiv
	rm -rf $(DEPS) && mkdir -p $(DEPS)
	$(PYTHON) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' \
		> $(BUILD)/requirements.txt
	set -e; for v in $(PY_VERSIONS); do for a in $(ARCHS); do \
		$(BUILD)/venv/bin/pip install --quiet --no-compile --target $(DEPS)/$$v-$$a \
			--only-binary=:all: --implementation cp --python-version $$v \
			--platform manylinux_2_17_$$a --platform manylinux2014_$$a \
			-r $(BUILD)/requirements.txt; \
		tag=cpython-$$(echo $$v | tr -d .)-$$a-linux-gnu; \
		find $(DEPS)/$$v-$$a -name '*.abi3.so' | while read -r so; do mv "$$so" "$${so%.abi3.so}.$$tag.so"; done; \
	done; done
	touch $@

# Rewritten only when the target set changes, so that the pyz is rebuilt when it does.
$(BUILD)/targets: FORCE
	@mkdir -p $(BUILD)
	@echo '$(PY_VERSIONS) $(ARCHS)' | cmp -s - $@ || echo '$(PY_VERSIONS) $(ARCHS)' > $@

$(PYZ): $(DEPS)/.stamp $(BUILD)/targets $(SOURCES) Makefile
	rm -rf $(SITE) && mkdir -p $(SITE) dist
	# Merge without overwriting: the same release of every package must have been picked everywhere.
	for d in $(DEPS)/*/; do cp -rn $$d. $(SITE)/; done
	test "$$(ls -d $(SITE)/*.dist-info | sed 's/-[^-]*$$//' | sort | uniq -d)" = "" \
		|| { echo "two releases of one package across Python versions" >&2; exit 1; }
	# A compiled module whose name carries no ABI tag would be one architecture's build for all of them.
	test "$$(find $(SITE) -name '*.so' ! -name '*-linux-gnu.so')" = "" \
		|| { echo "compiled modules without an ABI tag:" >&2; find $(SITE) -name '*.so' ! -name '*-linux-gnu.so' >&2; exit 1; }
	# pip comes in through sqlite-utils' "install" command, which the hub never runs (14 MB).
	rm -rf $(SITE)/bin $(SITE)/pip $(SITE)/pip-*.dist-info
	# The hub itself is plain Python: copied as is (a setuptools build would leave build/lib behind).
	cp -r orchestra $(SITE)/orchestra
	# orchestra/system/packaging.py looks for <site-packages>/orchestra/../ui: put the UI right there.
	cp -r ui $(SITE)/ui
	# The distribution's metadata (METADATA, entry points) from a wheel of this tree, so that the hub in
	# the pyz can serve a laptop its own wheel (GET /client/, orchestra/system/packaging.py).
	rm -rf $(BUILD)/self && $(BUILD)/venv/bin/pip wheel --quiet --no-deps -w $(BUILD)/self .
	$(PYTHON) -c 'import sys, zipfile; w = zipfile.ZipFile(sys.argv[1]); w.extractall(sys.argv[2], [n for n in w.namelist() if ".dist-info/" in n and not n.endswith("/RECORD")])' $(BUILD)/self/orchestra_hub-*.whl $(SITE)
	rm -rf build/lib build/bdist.*  # what setuptools left in the tree
	find $(SITE) -name __pycache__ -prune -exec rm -rf {} +
	$(BUILD)/venv/bin/shiv --site-packages $(SITE) --reproducible --compressed \
		--python '/usr/bin/env python3' --entry-point orchestra.cli:main --output-file $@
	@ls -l $@

test:
	$(PYTHON) -m pytest -q

# verify exits 0 on directives it ignores: any output counts as a failure.
verify-unit:
	@out=$$(systemd-analyze verify systemd/orchestra.service 2>&1); test -z "$$out" || { echo "$$out"; exit 1; }
	@echo "systemd/orchestra.service verifies"

deploy-check:
	bash .ci/deploy-check.sh

clean:
	rm -rf $(BUILD) dist
