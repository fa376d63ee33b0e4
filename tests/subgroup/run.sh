#!/bin/sh
# The ops with workgroup reductions (shaders/wg_reduce.glsl), conformance on the Vulkan device twice: with the
# device's subgroup arithmetic (the plan then picks the *_sg variants where the workgroup is a whole number
# of subgroups) and with LDM_VK_DISABLE_SUBGROUP=1 (the shared-memory trees). Either run failing a case, or
# printing a validation message, fails the test. Skips (77) without a Vulkan device unless
# LDM_REQUIRE_VULKAN=1.
# usage: run.sh LDM_VK_EXE OP...
exe=$1
shift
if ! "$exe" devices 2>/dev/null | grep -q '^vk:0'; then
  [ "$LDM_REQUIRE_VULKAN" = 1 ] && { echo "no Vulkan device (LDM_REQUIRE_VULKAN=1)"; exit 1; }
  echo "SKIP: no Vulkan device"
  exit 77
fi
out=$(mktemp) || exit 1
trap 'rm -f "$out"' EXIT
status=0
for op in "$@"; do
  for off in 0 1; do
    if ! LDM_VK_VALIDATION=1 LDM_VK_DISABLE_SUBGROUP=$off "$exe" conformance --device vk --op "$op" >"$out" 2>&1; then
      echo "FAIL: $op (LDM_VK_DISABLE_SUBGROUP=$off)"
      cat "$out"
      status=1
    elif grep -q 'Vulkan validation' "$out"; then
      echo "FAIL: $op (LDM_VK_DISABLE_SUBGROUP=$off): validation messages"
      cat "$out"
      status=1
    else
      echo "ok: $op (LDM_VK_DISABLE_SUBGROUP=$off): $(tail -n 1 "$out")"
    fi
  done
done
exit $status
