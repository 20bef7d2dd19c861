#!/usr/bin/env bash
# Second stage of the mutation run (docs/model.md, "Mutation adequacy"): each mutant that the
# core's tests missed (cargo-mutants' mutants.out/outcomes.json) against the checker's CI
# oracle: `check --config tiny`, `check --config ci`, then the CI walk batch. Run from the
# workspace root of a clean tree; each mutant's diff is applied, built (release), checked and
# reverted. One line per mutant on stdout: name, verdict (caught:WHERE or missed), seconds.
#
#   .cargo/mutants-checker.sh mutants.out [more mutants.out ...]
set -uo pipefail
cd "$(dirname "$0")/.."
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "the tree has changes; run on a clean tree" >&2
    exit 2
fi
check="${CARGO_TARGET_DIR:-target}/release/failover-check"
out="${TMPDIR:-/tmp}/mutants-checker.$$"
mkdir -p "$out"
for dir in "$@"; do
    python3 - "$dir/outcomes.json" <<'PY' >"$out/missed.tsv"
import json, sys
for x in json.load(open(sys.argv[1]))["outcomes"]:
    s = x["scenario"]
    if isinstance(s, dict) and x["summary"] == "MissedMutant":
        print(s["Mutant"]["file"], x["diff_path"], s["Mutant"]["name"], sep="\t")
PY
    while IFS=$'\t' read -r file diff name; do
        t0=$(date +%s)
        patch -s -p0 "$file" -i "$dir/$diff" </dev/null || { printf '%s\tpatch-failed\n' "$name"; continue; }
        verdict=missed
        if ! cargo build -q --release -p failover-specs --bin failover-check </dev/null >"$out/build.log" 2>&1; then
            verdict=unviable
        else
            for cfg in tiny ci; do
                if ! "$check" check --config "$cfg" --threads 1 --out "$out/$cfg" </dev/null >"$out/$cfg.log" 2>&1; then
                    verdict="caught:$cfg:$(grep -m1 '^VIOLATED' "$out/$cfg.log")"
                    break
                fi
            done
            if [ "$verdict" = missed ] && ! "$check" walk --config walk --seed 1 --walks 1000 --steps 300 \
                --threads 1 --out "$out/walk" </dev/null >"$out/walk.log" 2>&1; then
                verdict="caught:walk:$(grep -m1 '^VIOLATED' "$out/walk.log")"
            fi
        fi
        git checkout -q -- "$file"
        printf '%s\t%s\t%ss\n' "$name" "$verdict" $(($(date +%s) - t0))
    done <"$out/missed.tsv"
done
