#!/usr/bin/env bash
# Prepares, on this machine, what bench/gpu_check.sh needs on a lent GPU machine, whose system is not this
# one (another distribution, no Open MPI, maybe no libpng or libjpeg, a CPU that may lack this one's
# AVX-512 subsets): a portable ldm-vk (-Dnative=false, no MPI, no tests) in .gpu/bin/ and, in .gpu/bin/lib/,
# every shared library it loads beyond glibc's own (libpng, libjpeg, zlib) and the Vulkan loader (it loads
# libvulkan.so.1 at run time). It then checks that the binary finds every library there alone, and with
# --dry-run runs gpu_check.sh's quick form on this machine's Vulkan device (lavapipe) from .gpu/bin.
#   bash bench/gpu_prepare.sh [--dry-run]
#   device: run(command="bash bench/gpu_check.sh", carry=[".gpu/bin"])
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
dry=0
case "${1:-}" in
  --dry-run) dry=1 ;;
  "") ;;
  -h|--help) sed -n 2,9p "$0"; exit 0 ;;
  *) echo "gpu_prepare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
esac
bd=.gpu/build
if [ ! -f "$bd/build.ninja" ]; then
  meson setup "$bd" --buildtype=release -Dnative=false -Dmpi=disabled -Dtests=false -Dman=disabled > /dev/null
fi
ninja -C "$bd" ldm-vk > /dev/null
rm -rf .gpu/bin
mkdir -p .gpu/bin/lib
cp "$bd/ldm-vk" .gpu/bin/
# glibc's own libraries are the device system's; everything else the binary or the loader needs travels
is_glibc() { case "${1##*/}" in linux-vdso.so.*|libc.so.*|libm.so.*|libpthread.so.*|libdl.so.*|librt.so.*|ld-linux*) return 0 ;; esac; return 1; }
copy_deps() {
  ldd "$1" | while read -r name arrow path _; do
    is_glibc "$name" && continue
    [ "$arrow" = "=>" ] && [ -f "$path" ] || { echo "gpu_prepare.sh: $1 needs $name, not found here" >&2; exit 1; }
    cp -L "$path" ".gpu/bin/lib/$name"
  done
}
copy_deps .gpu/bin/ldm-vk
vk=$(ldconfig -p | awk '/libvulkan\.so\.1 .*x86-64/ && !n++ {print $NF}')
[ -n "$vk" ] || { echo "gpu_prepare.sh: no libvulkan.so.1 here (apt-get install libvulkan1)" >&2; exit 1; }
cp -L "$vk" .gpu/bin/lib/libvulkan.so.1
copy_deps .gpu/bin/lib/libvulkan.so.1
# every library must now come from .gpu/bin/lib or be glibc's
missing=$(LD_LIBRARY_PATH=$here/.gpu/bin/lib ldd .gpu/bin/ldm-vk .gpu/bin/lib/*.so* | while read -r name arrow path _; do
  [ "$arrow" = "=>" ] && ! is_glibc "$name" && [ "${path#"$here"/.gpu/bin/lib/}" = "$path" ] && echo "$name"
done || true)
[ -z "$missing" ] || { echo "gpu_prepare.sh: still from this system: $missing" >&2; exit 1; }
glibc=$(objdump -T .gpu/bin/ldm-vk .gpu/bin/lib/*.so* | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1)
LD_LIBRARY_PATH=.gpu/bin/lib .gpu/bin/ldm-vk --version > /dev/null
echo "gpu_prepare.sh: .gpu/bin ready ($(du -sh .gpu/bin | cut -f1), needs $glibc or newer): $(ls .gpu/bin/lib | tr '\n' ' ')"
if [ "$dry" = 1 ]; then
  lvp=$(ls /usr/share/vulkan/icd.d/lvp_icd*.json 2>/dev/null | head -1)
  [ -n "$lvp" ] || { echo "gpu_prepare.sh: --dry-run needs lavapipe (apt-get install mesa-vulkan-drivers)" >&2; exit 1; }
  out=$(mktemp -d)
  OUT=$out VK_DRIVER_FILES=$lvp LDM_GPU_CHECK_QUICK=1 bash bench/gpu_check.sh
  rm -rf "$out"
fi
