#!/usr/bin/env python3
"""The performance model's per-dispatch predictions against a real GPU's node times, for recalibrating the
model (docs/perf.md "Change 16"). bench/gpu_check.sh runs it on the device machine.

usage: model_vs_measured.py MODEL.json BENCH.json [MODEL.json BENCH.json ...] [--target NAME] [--top N]
       model_vs_measured.py --self-test MODEL.json

MODEL.json is `ldm-vk bench --model --json` (same config, preset and batch as the bench run), BENCH.json
`ldm-vk bench --device vk --json` (its "mm_nodes": every tiled GEMM / convolution node's GPU time in a
serialised run, so each node ran alone, as the model's "model_us" is). Nodes are matched by workload and
node index (the two build the same graphs) and must have the same op and launch (shader, tile variant);
several pairs (say one per forced LDM_VK_TILE, the model run under the same switch) are fitted together.

For the tiled nodes it compares two occupancy rules:
  whole waves  fill = w / ceil(w) over one wave, w under it (the model's rule: a unit that one tile keeps
               busy runs a second one after the first)
  min(1, w)    fill = min(1, w) (a unit runs two tiles at once at no loss: the rule before change 16)
For each, the geometric mean of measured / predicted (the factor to divide the tiled efficiency by when
recalibrating) and the spread of log(measured / predicted) around it: the rule of the smaller spread is the
one the device follows. The naive and memory-bound dispatches ("node_times": every node) get their factor
too (naive_eff, mem_eff), over those the model gives 5 us or more.

Then, per workload of each pair, the overlap of a level's dispatches: the measured step (its median, the
dispatches recorded between barriers as the executor records them) against the sum of its nodes' times in
the serialised run, beside the model's step against its dispatches one at a time (the sum of model_us plus
its dispatch and barrier overheads). The model assumes that the dispatches of a level share the GPU (a
level takes max(the sum of their full-occupancy times, the longest alone)); a measured step / serial ratio
near the model's says the device does so, one near 1 that it runs them one after another.

--self-test fabricates node times from MODEL.json under each rule in turn and checks that the comparison
picks that rule and its factor. Standard library only."""
import json
import math
import sys


def model_nodes(model, target):
    ts = model.get("targets") or []
    if not ts:
        sys.exit("model file: no targets (written by ldm-vk bench --model --json?)")
    t = next((x for x in ts if x["target"] == target), None) if target else ts[0]
    if t is None:
        sys.exit(f"model file: no target {target} (it has {', '.join(x['target'] for x in ts)})")
    return t, {w["name"]: w["nodes"] for w in t["workloads"]}


def predicted(n, rule):
    if rule == "whole":
        return n["model_us"]
    fill = min(1.0, n["waves"]) if n["kind"] == "tiled" else n["fill"]
    return n["full_us"] / fill if fill > 0 else float("inf")


def pair(nodes, mm_nodes):
    """(model node, bench node, measured us) of the tiled nodes both files have and both launched alike (same
    shader and tile variant: the device's limits gave it the target's plan); the counts of bench nodes
    without a model node of the same op, and of those the device launched otherwise"""
    out, bad, other = [], 0, 0
    for b in mm_nodes:
        ns = nodes.get(b["workload"])
        if ns is None or b["node"] >= len(ns) or ns[b["node"]]["op"] != b["op"]:
            bad += 1
            continue
        m = ns[b["node"]]
        if m["shader"] != b.get("shader", m["shader"]) or m.get("tile", "none") != b.get("tile", "none"):
            other += 1
            continue
        if m["kind"] == "tiled" and b["ms"] > 0:
            out.append((m, b, b["ms"] * 1e3))
    return out, bad, other


def fit(pairs, rule):
    logs = [math.log(us / predicted(m, rule)) for m, _, us in pairs]
    mean = sum(logs) / len(logs)
    spread = math.sqrt(sum((x - mean) ** 2 for x in logs) / len(logs))
    return math.exp(mean), spread


def pair_kind(nodes, node_times, kind):
    """(model node, bench node, measured us) of the nodes of one kind ("naive", "memory") that both files
    have with the same op and shader"""
    out = []
    for b in node_times:
        ns = nodes.get(b["workload"])
        if ns is None or b["node"] >= len(ns):
            continue
        m = ns[b["node"]]
        if m["op"] == b["op"] and m["shader"] == b["shader"] and m["kind"] == kind and b["ms"] > 0:
            out.append((m, b, b["ms"] * 1e3))
    return out


def kinds_report(kinds):
    """the factor measured / model of the naive and memory-bound dispatches (those the model gives at least
    MIN_US, so that a launch's latency does not decide)"""
    for kind, what in (("naive", "naive_eff"), ("memory", "mem_eff")):
        ps = [p for p in kinds.get(kind, []) if p[0]["model_us"] >= MIN_US]
        if not ps:
            print(f"{kind:>12}: no node of {MIN_US:g} us or more in the model")
            continue
        g, sp = fit(ps, "whole")
        print(f"{kind:>12}: measured / model {g:.3f} over {len(ps)} nodes of {MIN_US:g} us or more (recalibrate "
              f"{what} by 1/{g:.3f}), spread {sp:.3f}")


MIN_US = 5.0


def compare(pairs):
    return {rule: fit(pairs, rule) for rule in ("whole", "min1")}


NAMES = {"whole": "whole waves", "min1": "min(1, w)"}


def report(t, pairs, bad, other, top):
    print(f"target {t['target']} ({t['title']}): {len(pairs)} tiled GEMM/conv nodes matched"
          + (f"; {bad} bench nodes without a model node of the same op (different graphs?)" if bad else "")
          + (f"; {other} launched with another shader or tile than the target's plan (other limits), left out"
             if other else ""))
    print("%-16s %5s %-24s %-8s %6s %11s %11s %11s  %s" % ("workload", "node", "op", "tile", "waves", "measured us",
                                                          "whole us", "min(1,w) us", "shape"))
    for m, b, us in sorted(pairs, key=lambda p: -p[2])[:top]:
        print("%-16s %5d %-24s %-8s %6.2f %11.2f %11.2f %11.2f  %s" % (b["workload"], b["node"], b["op"], b["tile"],
                                                                      m["waves"], us, predicted(m, "whole"),
                                                                      predicted(m, "min1"), b["shape"]))
    res = compare(pairs)
    for rule, (g, s) in res.items():
        print(f"{NAMES[rule]:>12}: measured / model {g:.3f} (geometric mean; recalibrate the tiled efficiency "
              f"by 1/{g:.3f}), spread {s:.3f} (rms of the log ratio)")
    best = min(res, key=lambda r: res[r][1])
    if abs(res["whole"][1] - res["min1"][1]) <= 1e-4:
        print("both rules fit these nodes alike (the same spread to 1e-4)")
    else:
        print(f"the device follows {NAMES[best]} more closely (smaller spread)")
    split = [p for p in pairs if predicted(p[0], "whole") > 1.1 * predicted(p[0], "min1")]
    if split:
        sub = compare(split)
        tie = abs(sub["whole"][1] - sub["min1"][1]) <= 1e-9  # one node, or the same ratio on each: no verdict
        print(f"on the {len(split)} nodes whose two predictions differ by more than 10% (a partial last wave): "
              + "; ".join(f"{NAMES[r]} {g:.3f}, spread {sp:.3f}" for r, (g, sp) in sub.items())
              + (": the same spread, these nodes cannot tell the rules apart" if tie
                 else f": {NAMES[min(sub, key=lambda r: sub[r][1])]}"))
    else:
        print("no node whose two predictions differ by more than 10%: these shapes cannot tell the rules apart")
    return res


def self_test(path):
    with open(path) as f:
        model = json.load(f)
    t, nodes = model_nodes(model, None)
    ok = True
    for rule, factor in (("whole", 1.3), ("min1", 0.8)):
        mm = [{"workload": w, "node": i, "op": n["op"], "shape": "", "shader": n["shader"],
               "tile": n.get("tile", "none"), "ms": factor * predicted(n, rule) * 1e-3}
              for w, ns in nodes.items() for i, n in enumerate(ns) if n["kind"] == "tiled"]
        mm.append({"workload": "VAE train step", "node": 0, "op": "no such op", "shape": "", "tile": "none", "ms": 1})
        mm.append(dict(mm[0], tile="another"))
        pairs, bad, other = pair(nodes, mm)
        nt = [{"workload": w, "node": i, "op": n["op"], "shader": n["shader"], "ms": 2.0 * n["model_us"] * 1e-3}
              for w, ns in nodes.items() for i, n in enumerate(ns) if n["kind"] == "memory"]
        mem = [p for p in pair_kind(nodes, nt, "memory") if p[0]["model_us"] >= MIN_US]
        mg = fit(mem, "whole")[0] if mem else 0
        res = compare(pairs)
        best = min(res, key=lambda r: res[r][1])
        g, s = res[rule]
        rival = res["min1" if rule == "whole" else "whole"][1]
        split = [p for p in pairs if predicted(p[0], "whole") > 1.1 * predicted(p[0], "min1")]
        sub = compare(split) if split else {}
        if split and sub[rule][1] > min(v[1] for v in sub.values()) + 1e-9:
            rival = 0  # on the partial-wave nodes, where there are any, the rule must fit no worse than the other
        good = (len(mem) > 0 and abs(mg - 2.0) < 1e-6 and bad == 1 and other == 1 and len(pairs) == len(mm) - 2 and best == rule and abs(g - factor) < 1e-6 and s < 1e-6
                and rival > 1e-3)
        print(f"self-test, node times made under {NAMES[rule]} x {factor}: {len(pairs)} nodes, picked "
              f"{NAMES[best]}, factor {g:.4f}, spread {s:.2e} (other rule {rival:.3f}); memory-bound x 2: {len(mem)} "
              f"nodes, factor {mg:.4f}: {'ok' if good else 'FAILED'}")
        ok = ok and good
    return 0 if ok else 1


def overlap(model_t, bench):
    """(workload, measured step ms, its nodes' serialised ms, model step ms, model serialised ms) per workload
    both have (the bench's median; its node_times; the model's model_ms; sum of model_us + dispatch + barrier)"""
    by_name = {w["name"]: w for w in model_t["workloads"]}
    out = []
    for bw in bench.get("workloads", []):
        mw = by_name.get(bw.get("name"))
        serial = sum(n["ms"] for n in bench.get("node_times", []) if n["workload"] == bw.get("name"))
        if mw is None or serial <= 0 or bw.get("median_ms", 0) <= 0:
            continue
        mserial = sum(n["model_us"] for n in mw["nodes"]) * 1e-3 + mw["dispatch_ms"] + mw["barrier_ms"]
        out.append((bw["name"], bw["median_ms"], serial, mw["model_ms"], mserial))
    return out


def overlap_report(rows):
    for name, step, serial, mstep, mserial in rows:
        print(f"{name:>16}: measured step {step:.3f} ms, its nodes one at a time {serial:.3f} ms (step / serial "
              f"{step / serial:.3f}); model {mstep:.3f} against {mserial:.3f} ms ({mstep / mserial:.3f})")


def main(argv):
    if len(argv) == 3 and argv[1] == "--self-test":
        return self_test(argv[2])
    args, target, top = [], None, 20
    i = 1
    while i < len(argv):
        if argv[i] in ("--target", "--top") and i + 1 < len(argv):
            if argv[i] == "--target":
                target = argv[i + 1]
            else:
                top = int(argv[i + 1])
            i += 2
        else:
            args.append(argv[i])
            i += 1
    if len(args) < 2 or len(args) % 2:
        sys.exit(__doc__.split("\n\n")[1])
    pairs, bad, other, t, kinds, levels = [], 0, 0, None, {}, []
    for mp, bp in zip(args[0::2], args[1::2]):
        with open(mp) as f:
            model = json.load(f)
        with open(bp) as f:
            bench = json.load(f)
        if "mm_nodes" not in bench:
            sys.exit(f"{bp}: no mm_nodes (not an ldm-vk bench --json file)")
        for k in ("config", "preset", "batch"):
            if k in bench and bench[k] != model.get(k):
                sys.exit(f"{mp} and {bp} differ in {k}: {model.get(k)} against {bench[k]}")
        t, nodes = model_nodes(model, target)
        p, b, o = pair(nodes, bench["mm_nodes"])
        pairs += p
        bad += b
        other += o
        for kind in ("naive", "memory"):
            kinds.setdefault(kind, []).extend(pair_kind(nodes, bench.get("node_times", []), kind))
        levels += overlap(t, bench)
    if not pairs:
        sys.exit("no tiled GEMM/conv node of the bench files matches the model's")
    report(t, pairs, bad, other, top)
    kinds_report(kinds)
    print("the overlap of the dispatches between two barriers (a level), per workload and bench file:")
    overlap_report(levels)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
