#!/usr/bin/env bash
# Install the Debian packages ldm-vk needs (as root), or print the exact command (otherwise).
set -euo pipefail
PKGS=(gcc make pkgconf meson ninja-build glslang-tools spirv-tools libvulkan-dev libvulkan-volk-dev
      mesa-vulkan-drivers vulkan-validationlayers libstb-dev check zlib1g-dev dataset-fashion-mnist
      libpng-dev libjpeg-dev
      clang libclang-rt-14-dev  # clang + its sanitizer/libFuzzer runtimes: tests/fuzz/run.sh
      help2man g++  # the man page ldm-vk.1; the C++ consumer of tests/install
      libopenmpi-dev openmpi-bin)  # data-parallel training under mpirun (docs/distributed.md), suite mpi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "ldm-vk: installing missing packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "ldm-vk: not root; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
