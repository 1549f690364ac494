#!/usr/bin/env bash
# Builds the origin of a base commit (default: main before issue 17's egress
# work) into bin/origin-base, for make bench's capacity comparison: the
# base and the new build are measured in the same run on the same machine.
set -euo pipefail
base="${1:-181c149}"
out="bin/origin-base"
stamp="bin/.origin-base-commit"
if [ -x "$out" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$base" ]; then
  exit 0
fi
if ! git rev-parse --verify -q "$base^{commit}" >/dev/null; then
  echo "base-origin: commit $base is not in this clone (a shallow clone? git fetch --unshallow)" >&2
  exit 1
fi
tree="$(mktemp -d)"
trap 'git worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"' EXIT
git worktree add --detach -q "$tree" "$base"
mkdir -p bin
(cd "$tree" && go build -tags "${TAGS:-}" -o "$OLDPWD/$out" ./cmd/origin)
echo "$base" > "$stamp"
echo "base-origin: bin/origin-base is $base"
