#!/bin/sh
# Generate the man page ldm-vk.1 from the program's own --help and --version (so it cannot drift):
# help2man writes NAME/SYNOPSIS/DESCRIPTION from `ldm-vk --help`, and a COMMANDS section holds the
# `ldm-vk <command> --help` text of every command that `ldm-vk --help` lists.
#   manpage.sh HELP2MAN LDM-VK OUTPUT.1
set -eu
help2man=$1 exe=$2 out=$3
inc="$out.h2m"
trap 'rm -f "$inc"' EXIT

# the command names: the lines of the "commands:" block of `ldm-vk --help`, up to the first blank line
cmds=$("$exe" --help | awk '/^commands:/ {on = 1; next} on && /^$/ {exit} on {print $1}')
[ -n "$cmds" ] || { echo "manpage.sh: no commands in '$exe --help'" >&2; exit 1; }

{
  echo '[COMMANDS]'
  for c in $cmds; do
    echo ".SS \"ldm-vk $c\""
    echo '.nf'
    # the command's help text verbatim: escape backslashes, protect lines roff would take as requests
    # shellcheck disable=SC1003
    "$exe" "$c" --help | sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
    echo '.fi'
  done
  echo '[SEE ALSO]'
  echo 'README.md and docs/ of the ldm-vk sources.'
} >"$inc"

"$help2man" --no-info --no-discard-stderr --section=1 \
  --name='train and sample latent diffusion models on any Vulkan GPU' \
  --include="$inc" --output="$out" "$exe"
