# Thin wrapper around meson/ninja for the two README commands.
#   make train [OUT=runs/fmnist] [ARGS="--device vk ..."]   train on Fashion-MNIST (installs what is missing)
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
	./$(BUILD)/ldm-vk train --out $(OUT) $(ARGS)

clean:
	rm -rf $(BUILD)
