# Thin wrapper around meson/ninja for the two README commands.
#   make train [OUT=runs/fmnist] [ARGS="--device vk ..."]   train on Fashion-MNIST (installs what is missing;
#                                                            run again: continues the run in OUT)
#   make test                                                build and run every test suite
BUILD ?= build
OUT ?= runs/fmnist
ARGS ?=

.PHONY: all deps build test train clean

all: build

deps:
	@bash scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD) --buildtype=release

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

test: build
	meson test -C $(BUILD) --print-errorlogs

train: deps $(BUILD)/build.ninja
	ninja -C $(BUILD) ldm-vk
	@# a second `make train` continues (or, when finished, keeps) the run in $(OUT) instead of refusing it
	@resume=; if [ -e "$(OUT)/state_vae.safetensors" ] && ! echo " $(ARGS) " | grep -qE ' --(resume|overwrite)[ =]'; then \
	  resume=--resume; echo "ldm-vk: $(OUT) holds a run: continuing it (ARGS=--overwrite starts afresh)"; fi; \
	  echo ./$(BUILD)/ldm-vk train --out $(OUT) $$resume $(ARGS); ./$(BUILD)/ldm-vk train --out $(OUT) $$resume $(ARGS)

clean:
	rm -rf $(BUILD)
