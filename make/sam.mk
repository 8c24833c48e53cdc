# Deploy-side targets: the Lambda layer, cfn-lint, `sam validate --lint` and `sam build`.
# Included from the top-level Makefile (which defines PYTHON, VENV, BIN and STAMP).
#
# aws-sam-cli lives in its own venv (.venv-sam): it pins its own cfn-lint, boto3 and
# aws-sam-translator, which would fight the dev venv's moto/cfn-lint/boto3-stubs versions.
# `sam build` needs neither Docker nor a local python3.13: the template uses BuildMethod
# makefile (layers/Makefile), and the layer's wheels are downloaded for manylinux aarch64.

PYTHON      ?= python3
SAM_VENV    ?= .venv-sam
SAM         := $(SAM_VENV)/bin/sam
SAM_STAMP   := $(SAM_VENV)/.installed
SAM_VERSION ?= 1.170.0
# Any Python with pip builds the layer (pip only downloads the target's wheels).
LAYER_PYTHON ?= $(if $(wildcard $(VENV)/bin/python),$(VENV)/bin/python,$(PYTHON))

# No telemetry, and a region for commands that build ARNs; never real credentials.
SAM_ENV := SAM_CLI_TELEMETRY=0 AWS_EC2_METADATA_DISABLED=true \
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1}

.PHONY: sam-install layer host-layer host-layer-runtime sam-artifacts cfn-lint sam-validate sam-build sam-test sam-clean

$(SAM_STAMP): make/sam.mk
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet "aws-sam-cli==$(SAM_VERSION)"
	touch $@

## Install aws-sam-cli into .venv-sam (the functional tests use it; `make test` depends on it).
sam-install: $(SAM_STAMP)

## Build the dependency layer into build/layer/python (reused while layers/requirements.txt is unchanged).
layer:
	$(LAYER_PYTHON) scripts/build_layer.py

## The same layer requirements for this machine and interpreter (build/host-layer/python): the
## artifact test and the cold-start benchmark import the built function against it.
host-layer: $(STAMP)
	$(BIN)/python scripts/build_layer.py --host

## The same for the function's runtime version (build/host-layer-runtime), when that interpreter
## is installed: the cold-start benchmark's runtime-version figures need it.
host-layer-runtime: $(STAMP)
	@py=$$($(BIN)/python scripts/build_layer.py --print-interpreter); \
	if [ -n "$$py" ]; then $$py scripts/build_layer.py --host --out build/host-layer-runtime; \
	else echo "host-layer-runtime: no python of the runtime's version here, skipped"; fi

## What the artifact tests need, prepared before pytest (tests never download anything).
sam-artifacts: sam-install layer host-layer

cfn-lint: $(STAMP)
	$(BIN)/cfn-lint template.yaml

sam-validate: $(SAM_STAMP)
	$(SAM_ENV) $(SAM) validate --lint --template template.yaml

## sam build into .aws-sam/build (no Docker).
sam-build: $(SAM_STAMP) layer
	$(SAM_ENV) LAYER_PYTHON=$(abspath $(LAYER_PYTHON)) $(SAM) build --template template.yaml

sam-test: cfn-lint sam-validate sam-build

sam-clean:
	rm -rf .aws-sam build/layer build/host-layer build/host-layer-runtime
