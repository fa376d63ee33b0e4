#!/usr/bin/env bash
# The HTML reports of `ldm-vk report`, checked two ways.
#   browser_test.sh LDM_VK cli      the files: a tiny run's report.html (written by the trainer and again by
#                                   `ldm-vk report`), chart points against metrics.jsonl, malformed metrics
#                                   and JSON files (exit 1, file:line), null/NaN rows, bench/conformance pages
#                                   (older conformance files, --cpu-only ones without a device, three-way ones)
#   browser_test.sh LDM_VK browser  the same pages rendered by headless Chromium: no console message, the
#                                   page's own self-check (<body data-ok="1">), the chart points in the live
#                                   DOM against metrics.jsonl, a screenshot that is not blank
# The browser mode skips (77) without Chromium unless LDM_REQUIRE_BROWSER=1. LDM_REPORT_SCREENSHOTS=DIR
# keeps the screenshots (report.png, bench.png, conformance.png) there.
set -euo pipefail
exe="$1"
mode="${2:-browser}"
here="$(cd "$(dirname "$0")" && pwd)"
conf_example="$here/../../bench/results/conformance-lavapipe-2026-11-26.json"
py=/usr/bin/python3
[ -x "$py" ] || py=python3
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

browser=""
if [ "$mode" = browser ]; then
  for b in chromium chromium-browser; do
    if command -v "$b" >/dev/null 2>&1; then
      browser="$(command -v "$b")"
      break
    fi
  done
  if [ -z "$browser" ]; then
    [ "${LDM_REQUIRE_BROWSER:-0}" = 1 ] && fail "LDM_REQUIRE_BROWSER=1 but chromium is not installed"
    echo "chromium not installed: browser checks skipped"
    exit 77
  fi
elif [ "$mode" != cli ]; then
  fail "usage: $0 LDM_VK cli|browser"
fi

d="$(mktemp -d)"
trap 'rm -rf "$d"' EXIT
run="$d/run"

# a tiny run with a sample grid every 15 steps and three skipped steps (the trainer's fault-injection hook)
LDM_TEST_FAULT=vae:nan:7,unet:nan:12:2 "$exe" train --config tiny --device cpu --vae-steps 30 --unet-steps 30 \
  --log-every 3 --sample-every 15 --sample-steps 4 --limit-images 256 --batch 8 --out "$run" --quiet 2>"$d/train.err" ||
  { cat "$d/train.err" >&2; fail "ldm-vk train"; }
[ -s "$run/report.html" ] || fail "the trainer wrote no report.html"

# chart points of one page (a file or the DOM Chromium dumped) against the rows of metrics.jsonl:
# every stage's raw loss line has one point per row, minus the rows whose loss cannot be plotted
check_points() { # page metrics.jsonl
  "$py" - "$1" "$2" <<'EOF'
import json, re, sys
page = open(sys.argv[1], encoding="utf-8").read()
rows = {}
for line in open(sys.argv[2], encoding="utf-8"):
    if line.strip():
        # older logs wrote bare nan/inf: read them as null, like the report does
        line = re.sub(r'(?<=[:\[,])(-?(nan|inf|NaN|Infinity))(?=[,\]}])', 'null', line)
        r = json.loads(line)
        st = rows.setdefault(r["stage"], [0, 0])
        st[0] += 1
        st[1] += r["loss"] is None or not (r["loss"] > 0)
if not rows:
    sys.exit("metrics.jsonl has no rows")
lines = re.findall(r"<polyline\b[^>]*>", page)
if not lines:
    sys.exit("no chart lines in " + sys.argv[1])
def attr(tag, name):
    m = re.search(r'(?<![\w-])' + name + r'="([^"]*)"', tag)
    return m.group(1) if m else None
for tag in lines:
    pts = attr(tag, "points").split()
    if len(pts) != int(attr(tag, "data-points")):
        sys.exit("%s: %d points but data-points=%s" % (attr(tag, "data-series"), len(pts), attr(tag, "data-points")))
for stage, (n, bad) in rows.items():
    tags = [t for t in lines if attr(t, "data-series") == stage + ".loss"]
    if len(tags) != 1:
        sys.exit("no loss chart for stage %s" % stage)
    t = tags[0]
    got = len(attr(t, "points").split())
    if got != n - bad or int(attr(t, "data-rows")) != n or int(attr(t, "data-missing")) != bad:
        sys.exit("stage %s: %d rows (%d not plottable) in metrics.jsonl, chart has %d points, data-rows %s, "
                 "data-missing %s" % (stage, n, bad, got, attr(t, "data-rows"), attr(t, "data-missing")))
    print("stage %s: %d rows, %d points" % (stage, n, got))
EOF
}

expect_fail() { # what pattern command...
  local what="$1" pat="$2"
  shift 2
  local rc=0
  "$@" >"$d/out" 2>"$d/err" || rc=$?
  [ "$rc" = 1 ] || fail "$what: exit $rc, expected 1"
  [ "$(wc -l <"$d/err")" = 1 ] || { cat "$d/err" >&2; fail "$what: expected a one-line error"; }
  grep -q -- "$pat" "$d/err" || { cat "$d/err" >&2; fail "$what: the error does not name $pat"; }
  echo "ok: $what -> $(cat "$d/err")"
}

bench() { # out.json [flags]
  local out="$1"
  shift
  "$exe" bench --config tiny --device cpu --iters 2 --json "$out" "$@" >/dev/null || fail "ldm-vk bench"
}

if [ "$mode" = cli ]; then
  check_points "$run/report.html" "$run/metrics.jsonl" || fail "the trainer's report.html"
  grep -q 'src="samples/unet_000015.png"' "$run/report.html" || fail "no relative link to the sample grid of step 15"
  grep -q 'src="samples.png"' "$run/report.html" || fail "no link to samples.png"
  grep -q 'class="skip"' "$run/report.html" || fail "skipped steps are not marked"
  # the run's config.json (written by ldm-vk train) in the configuration section
  grep -q 'from config.json' "$run/report.html" && grep -q '<th>train.unet_steps</th>' "$run/report.html" &&
    grep -q '<th>data.classes</th>' "$run/report.html" || fail "no config.json settings in the configuration section"
  # the device the run trained on, from config.json
  grep -q 'device: <b>CPU reference backend' "$run/report.html" || fail "the report does not name the run's device"
  grep -Eq '(src|href)="(https?:)?//' "$run/report.html" && fail "the page links something outside the run"
  # regenerated from the files
  rm "$run/report.html"
  "$exe" report "$run" 2>/dev/null || fail "ldm-vk report RUN_DIR"
  check_points "$run/report.html" "$run/metrics.jsonl" || fail "the regenerated report.html"
  ls "$run" | grep -q '\.tmp' && fail "a temp file was left in the run directory"
  # --out elsewhere: the images are linked by absolute path
  "$exe" report "$run" --out "$d/elsewhere.html" 2>/dev/null || fail "report --out"
  grep -q "src=\"$run/samples/unet_000015.png\"" "$d/elsewhere.html" || fail "--out elsewhere: image links"

  # rows H5's trainer writes for non-finite values (null), and older runs' bare nan
  cp -r "$run" "$d/r2"
  echo '{"stage":"unet","step":31,"loss":null,"lr":null,"grad_norm":null,"it_s":1.5,"skipped":true}' >>"$d/r2/metrics.jsonl"
  echo '{"stage":"unet","step":32,"loss":nan,"lr":1e-4,"grad_norm":inf,"it_s":1.5,"skipped":true}' >>"$d/r2/metrics.jsonl"
  "$exe" report "$d/r2" 2>/dev/null || fail "null / nan rows"
  check_points "$d/r2/report.html" "$d/r2/metrics.jsonl" || fail "null / nan rows: chart points"

  # malformed rows: one line naming the file and the line, exit 1
  n=$(($(wc -l <"$run/metrics.jsonl") + 1))
  for bad in '{"stage":"vae","step":' '{"stage":"vae","step":"3","loss":1}' '{"stage":"vae","step":3,"loss":1} x' \
    '{"stage":"vae","step":3,"loss":1,"loss":2}' '["vae",3]' '{"stage":"vae","step":3,"loss":01}'; do
    cp "$run/metrics.jsonl" "$d/m.bak"
    echo "$bad" >>"$run/metrics.jsonl"
    expect_fail "metrics row $bad" "metrics.jsonl:$n:" "$exe" report "$run"
    cp "$d/m.bak" "$run/metrics.jsonl"
  done
  # a malformed row in the middle names its own line
  sed -i '2s/"loss"/"loss" 1/' "$run/metrics.jsonl"
  expect_fail "metrics line 2" "metrics.jsonl:2:" "$exe" report "$run"
  cp "$d/m.bak" "$run/metrics.jsonl"
  # config.json: shown when present, a malformed one is an error naming its line
  printf '{\n  "config": "tiny",\n  "vae_steps": 30\n}\n' >"$run/config.json"
  "$exe" report "$run" 2>/dev/null || fail "config.json"
  grep -q '<th>vae_steps</th><td>30</td>' "$run/report.html" || fail "config.json not shown"
  printf '{\n  "config": "tiny",\n  "vae_steps": 30,\n}\n' >"$run/config.json"
  expect_fail "config.json trailing comma" "config.json:4:" "$exe" report "$run"
  rm "$run/config.json"
  expect_fail "not a run directory" "metrics.jsonl" "$exe" report "$d"

  # bench: two machines' files side by side, then one of another batch size
  bench "$d/A.json"
  bench "$d/B.json"
  bench "$d/C.json" --batch 8
  "$py" -c "import json,sys; j=json.load(open(sys.argv[1])); assert j['version'] and j['date'] and len(j['workloads'])==3 and j['workloads'][0]['ops_ms'], j" \
    "$d/A.json" || fail "bench JSON lacks version/date/workloads"
  "$exe" report --bench "$d/A.json" "$d/B.json" --out "$d/bench.html" >"$d/bench.txt" 2>/dev/null || fail "report --bench"
  grep -q '^UNet train step' "$d/bench.txt" || fail "bench text table"
  grep -q FLAGGED "$d/bench.txt" && fail "same config flagged"
  grep -q 'data-expect-children="3"' "$d/bench.html" || fail "bench page: workloads table"
  "$exe" report --bench "$d/A.json" "$d/C.json" --out "$d/bench2.html" >"$d/bench2.txt" 2>/dev/null || fail "report --bench (2)"
  grep -q 'FLAGGED: batch 8 (A: 16)' "$d/bench2.txt" || fail "another batch size is not flagged"
  grep -q 'Not like for like' "$d/bench2.html" || fail "bench page: no flag"
  printf '{"version":"0.1.0",\n"workloads":[{"name":"x"}]}\n' >"$d/bad.json"
  expect_fail "bench workload without median" "bad.json:2:" "$exe" report --bench "$d/A.json" "$d/bad.json"
  printf '{"version":"0.1.0",\n\n"config":"tiny" "preset":"x"}\n' >"$d/bad2.json"
  expect_fail "bench JSON syntax" "bad2.json:3:" "$exe" report --bench "$d/bad2.json"

  # conformance: the example table and a copy with one case failed on a "second device"
  "$py" - "$conf_example" "$d/conf2.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
j["device"] = "second device"
j["cases"][3]["pass"] = False
j["cases"][3]["nmse"] = 0.5
json.dump(j, open(sys.argv[2], "w"))
EOF
  "$exe" report --conformance "$conf_example" "$d/conf2.json" --out "$d/conf.html" >"$d/conf.txt" 2>/dev/null ||
    fail "report --conformance"
  ncases=$("$py" -c "import json,sys; print(len(json.load(open(sys.argv[1]))['cases']))" "$conf_example")
  grep -q "data-expect-children=\"$ncases\"" "$d/conf.html" || fail "conformance grid: expected $ncases rows"
  [ "$(grep -c ' 0.5!' "$d/conf.txt")" = 1 ] || fail "conformance text: the failed case's NMSE is not marked"
  [ "$(grep -c ' FAIL *$' "$d/conf.txt")" = 1 ] || fail "conformance text: the failed case is not marked"
  grep -q '<td class="n bad" title="[^"]*">0.5</td>' "$d/conf.html" || fail "conformance page: the NMSE is not marked"
  [ "$(grep -o '>FAIL</td>' "$d/conf.html" | wc -l)" = 1 ] || fail "conformance page: the failed case is not marked"
  # older files have no reference figures: shown as missing, not as numbers
  [ "$(grep -o 'title="not recorded (older file)">&#8212;' "$d/conf.html" | wc -l)" = $((6 * ncases)) ] ||
    fail "conformance page: the older files' missing figures"

  # this version's files: --cpu-only (no device: its device figures are n/a, never 0) and, from it, a
  # three-way file as a device run writes it, with one case outside its per-element bound
  "$exe" conformance --cpu-only --json "$d/cpu.json" >"$d/cpu.txt" || fail "ldm-vk conformance --cpu-only"
  "$py" - "$d/cpu.json" "$d/dev.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
assert j["cases"] and all(c["device_run"] is False and "nmse_cpu_ref" in c and "rtol" in c for c in j["cases"]), j["cases"][0]
j["device"] = "a device"
for c in j["cases"]:
    c.update(device_run=True, nmse_vk_ref=c["nmse_cpu_ref"], max_ratio_vk_ref=c["max_ratio_cpu_ref"])
j["cases"][1].update(max_ratio_vk_ref=None, bad_vk_ref=3)
j["cases"][1]["pass"] = False
json.dump(j, open(sys.argv[2], "w"))
EOF
  "$exe" report --conformance "$conf_example" "$d/cpu.json" "$d/dev.json" --out "$d/conf3.html" >"$d/conf3.txt" 2>/dev/null ||
    fail "report --conformance (this version's files)"
  ncpu=$("$py" -c "import json,sys; print(len(json.load(open(sys.argv[1]))['cases']))" "$d/cpu.json")
  [ "$(grep -o '>n/a</td>' "$d/conf3.html" | wc -l)" = $((2 * ncpu)) ] || fail "conformance page: --cpu-only device figures"
  grep -q 'data-device-run="false">no device run' "$d/conf3.html" || fail "conformance page: no-device file not named"
  [ "$(grep -c 'no device run: fast CPU vs reference only' "$d/conf3.txt")" = 1 ] || fail "conformance text: no-device file"
  [ "$(grep -c '|       n/a        n/a ' "$d/conf3.txt")" = "$ncpu" ] || fail "conformance text: --cpu-only device figures"
  [ "$(grep -c 'inf! FAIL *$' "$d/conf3.txt")" = 1 ] || fail "conformance text: the element bound"
  grep -q '<td class="n bad" title="device vs reference: [^"]*, 3 outside; fast CPU[^"]*">inf</td>' "$d/conf3.html" ||
    fail "conformance page: the element bound"
  echo "report cli checks passed"
  exit 0
fi

# ---------------------------------------------------------------- browser
chrome() { # out-prefix url extra-flags...
  local pre="$1" url="$2"
  shift 2
  local prof
  prof="$(mktemp -d "$d/profile.XXXXXX")"
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync --user-data-dir="$prof" \
    --enable-logging=stderr --v=0 --virtual-time-budget=5000 "$@" "$url" >"$pre.out" 2>"$pre.err" ||
    { tail -20 "$pre.err" >&2; fail "chromium on $url"; }
  # console messages (console.log/error, uncaught exceptions) are logged as CONSOLE lines: the pages write none
  if grep -a 'CONSOLE' "$pre.err"; then fail "console output from $url"; fi
}

not_blank() { # png
  "$py" - "$1" <<'EOF'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit("not a PNG")
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        if depth != 8 or ctype not in (2, 6):
            sys.exit("unexpected PNG format %d/%d" % (depth, ctype))
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
nonwhite, colours, i = 0, set(), 0
for y in range(h):
    f, line = raw[i], bytearray(raw[i + 1:i + 1 + stride])
    i += 1 + stride
    for x in range(stride):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        c = prev[x - bpp] if x >= bpp else 0
        if f == 1: line[x] = (line[x] + a) & 255
        elif f == 2: line[x] = (line[x] + b) & 255
        elif f == 3: line[x] = (line[x] + ((a + b) >> 1)) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 4 == 0:
        for x in range(0, stride, bpp * 2):
            px = bytes(line[x:x + 3])
            colours.add(px)
            nonwhite += px != b"\xff\xff\xff"
    prev = line
sampled = ((h + 3) // 4) * ((w + 1) // 2)
share = nonwhite / sampled
print("%s: %dx%d, %.1f%% non-white, %d colours" % (sys.argv[1], w, h, 100 * share, len(colours)))
if share < 0.03 or len(colours) < 16:
    sys.exit("the screenshot is (nearly) blank")
EOF
}

dom_ok() { # dom-file what
  grep -q '<body[^>]*data-ok="1"' "$1" ||
    { grep -o '<body[^>]*>' "$1" >&2; grep -o 'id="selfcheck">[^<]*' "$1" >&2 || true; fail "$2: the page's self-check did not pass"; }
  echo "ok: $2: $(grep -o 'id="selfcheck">[^<]*' "$1" | sed 's/.*>//')"
}

shots="${LDM_REPORT_SCREENSHOTS:-}"
[ -n "$shots" ] && mkdir -p "$shots"

chrome "$d/run-dom" "file://$run/report.html" --dump-dom
dom_ok "$d/run-dom.out" "report.html"
grep -q '<img[^>]*src="samples/vae_recon_000015.png"' "$d/run-dom.out" || fail "report.html: no sample grid in the DOM"
check_points "$d/run-dom.out" "$run/metrics.jsonl" || fail "report.html in Chromium: chart points"
chrome "$d/run-shot" "file://$run/report.html" --window-size=1200,2000 --screenshot="$d/report.png"
not_blank "$d/report.png" || fail "report.html screenshot"
[ -n "$shots" ] && cp "$d/report.png" "$shots/report.png"

bench "$d/A.json"
bench "$d/B.json"
"$exe" report --bench "$d/A.json" "$d/B.json" --out "$d/bench.html" >/dev/null 2>&1 || fail "report --bench"
chrome "$d/bench-dom" "file://$d/bench.html" --dump-dom
dom_ok "$d/bench-dom.out" "bench page"
chrome "$d/bench-shot" "file://$d/bench.html" --window-size=1200,2000 --screenshot="$d/bench.png"
not_blank "$d/bench.png" || fail "bench page screenshot"
[ -n "$shots" ] && cp "$d/bench.png" "$shots/bench.png"

"$exe" conformance --cpu-only --json "$d/cpu.json" >/dev/null || fail "ldm-vk conformance --cpu-only"
"$exe" report --conformance "$conf_example" "$d/cpu.json" --out "$d/conf.html" >/dev/null 2>&1 ||
  fail "report --conformance"
chrome "$d/conf-dom" "file://$d/conf.html" --dump-dom
dom_ok "$d/conf-dom.out" "conformance page"
grep -q '<td class="n miss" title="no device run (--cpu-only)">n/a</td>' "$d/conf-dom.out" ||
  fail "conformance page in Chromium: no n/a device figures"
chrome "$d/conf-shot" "file://$d/conf.html" --window-size=1200,2000 --screenshot="$d/conformance.png"
not_blank "$d/conformance.png" || fail "conformance page screenshot"
[ -n "$shots" ] && cp "$d/conformance.png" "$shots/conformance.png"
echo "report browser checks passed"
