#!/usr/bin/env python3
"""Which tile variant of the tiled GEMM / convolution shaders wins per shape, from `ldm-vk bench --json`
files of one run per forced LDM_VK_TILE value (bench/gpu_check.sh writes them).

usage: tile_winners.py AUTO.json VARIANT=FILE.json [VARIANT=FILE.json ...]

AUTO.json is the run with LDM_VK_TILE=auto (or unset); each VARIANT=FILE the run with that variant forced.
Per (workload, op, shape) it prints the time of each variant (the node's GPU timestamps of a serialised run,
summed over the nodes of that shape), the winner, the variant auto chose and whether that was the winner.
A forced variant that did not fit the device's limits ran as another one: its column shows the variant
that ran, in brackets. Standard library only."""
import json
import sys


def load(path):
    with open(path) as f:
        d = json.load(f)
    if "mm_nodes" not in d:
        sys.exit(f"{path}: no mm_nodes (written by an ldm-vk bench --json older than the tile variants)")
    rows = {}
    for n in d["mm_nodes"]:
        key = (n["workload"], n["op"], n["shape"])
        r = rows.setdefault(key, {"ms": 0.0, "tile": n["tile"], "count": 0})
        r["ms"] += n["ms"]
        r["count"] += 1
    return d, rows


def main(argv):
    if len(argv) < 3 or any("=" not in a for a in argv[2:]):
        sys.exit(__doc__.split("\n\n")[1])
    _, auto = load(argv[1])
    variants = []
    for a in argv[2:]:
        name, path = a.split("=", 1)
        variants.append((name, load(path)[1]))
    names = [v[0] for v in variants]
    print("%-16s %-24s %-36s %3s " % ("workload", "op", "shape", "n") +
          " ".join("%16s" % n for n in names) + "  %-8s %-8s %s" % ("winner", "auto", "auto won"))
    won = total = 0
    for key in sorted(auto):
        cells, best, best_ms = [], None, None
        for name, rows in variants:
            r = rows.get(key)
            if r is None:
                cells.append("%16s" % "-")
                continue
            ran = r["tile"]
            cells.append("%16s" % ("%.4f" % r["ms"] if ran == name else "%.4f [%s]" % (r["ms"], ran)))
            if ran == name and (best_ms is None or r["ms"] < best_ms):
                best, best_ms = name, r["ms"]
        a = auto[key]["tile"]
        ok = best is not None and a == best
        total += best is not None
        won += ok
        print("%-16s %-24s %-36s %3d " % (key[0][:16], key[1][:24], key[2][:36], auto[key]["count"]) + " ".join(cells) +
              "  %-8s %-8s %s" % (best or "-", a, "yes" if ok else "no"))
    print(f"auto picked the fastest variant for {won} of {total} shapes (times in ms)")


if __name__ == "__main__":
    main(sys.argv)
