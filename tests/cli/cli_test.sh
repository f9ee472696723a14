#!/usr/bin/env bash
# CLI contract tests (ARCHITECTURE.md "Contracts"): exit 0 on success, 1 when the answer is
# "infeasible" (invalid plan or does not fit), 2 on bad input with exactly one line on stderr
# naming the file and field and nothing on stdout; --json output parses.
#
# Usage: cli_test.sh PREFLIGHT_BINARY REPO_ROOT [CASE...]
# Without CASE every case runs. CMake registers one ctest test per case.
set -uo pipefail

if [[ $# -lt 2 ]]; then
  echo "usage: $0 PREFLIGHT_BINARY REPO_ROOT [CASE...]" >&2
  exit 2
fi
BIN="$1"
ROOT="$2"
shift 2
export PREFLIGHT_DATA="${PREFLIGHT_DATA:-$ROOT/data}"
EXAMPLE="$ROOT/examples/llama3.1-70b-h100.yaml"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
OUT="$WORK/stdout"
ERR="$WORK/stderr"
failures=0

fail() {
  echo "FAIL [$CASE]: $*" >&2
  echo "  stdout (first lines):" >&2
  head -5 "$OUT" | sed 's/^/    /' >&2
  echo "  stderr:" >&2
  sed 's/^/    /' "$ERR" >&2
  failures=$((failures + 1))
}

# run ARGS...: runs the binary, capturing stdout, stderr and the exit code in $RC.
run() {
  "$BIN" "$@" >"$OUT" 2>"$ERR"
  RC=$?
}

expect_rc() { [[ "$RC" == "$1" ]] || fail "expected exit $1, got $RC"; }
expect_stderr_has() { grep -qF -- "$1" "$ERR" || fail "stderr lacks '$1'"; }
expect_stdout_has() { grep -qF -- "$1" "$OUT" || fail "stdout lacks '$1'"; }
expect_stdout_empty() { [[ ! -s "$OUT" ]] || fail "stdout should be empty"; }
expect_stderr_empty() { [[ ! -s "$ERR" ]] || fail "stderr should be empty"; }

# One line on stderr containing every given fragment.
expect_one_error_line() {
  local lines
  lines=$(wc -l <"$ERR")
  [[ "$lines" == 1 ]] || fail "expected exactly one line on stderr, got $lines"
  for part in "$@"; do
    grep -qF -- "$part" "$ERR" || fail "stderr lacks '$part'"
  done
}

# The bad-input contract: exit 2, one line naming the fragments, nothing on stdout.
expect_bad_input() {
  expect_rc 2
  expect_stdout_empty
  expect_one_error_line "$@"
}

have_python() { command -v python3 >/dev/null 2>&1; }

# expect_json [PYTHON_ASSERTIONS]: stdout parses as JSON; the optional Python snippet runs with
# the document bound to `j` and must not raise.
expect_json() {
  if ! have_python; then
    echo "  [$CASE] python3 not found: JSON check skipped"
    return
  fi
  python3 - "$OUT" "${1:-pass}" <<'PY' || fail "stdout is not the expected JSON"
import json, sys
with open(sys.argv[1]) as f:
    j = json.load(f)
exec(sys.argv[2])
PY
}

write() { printf '%s\n' "$2" >"$WORK/$1"; echo "$WORK/$1"; }

# --- cases -----------------------------------------------------------------------------------

case_catalog_list() {
  run catalog list
  expect_rc 0
  expect_stderr_empty
  expect_stdout_has "h100-sxm-80gb"
  expect_stdout_has "tpu-v7-ironwood"
  expect_stdout_has "llama-3.1-8b"
  expect_stdout_has "deepseek-v3"
  expect_stdout_has "azure-nd-a100-v4"
  run catalog list extra
  expect_bad_input "catalog list" "extra"
}

# Output that cannot be written (a full device) fails the run with one line on stderr: it is not
# a success that printed nothing.
case_output_write_failure() {
  [[ -w /dev/full ]] || { echo "  [$CASE] /dev/full not writable: skipped"; return; }
  for args in "plan $EXAMPLE" "plan $EXAMPLE --json" "catalog list" "--help" "plan --help"; do
    # shellcheck disable=SC2086
    "$BIN" $args >/dev/full 2>"$ERR"
    RC=$?
    expect_rc 1
    expect_one_error_line "preflight: stdout: could not write the output"
  done
}

# A pipe whose reader has gone is output that cannot be written too: exit 1 and one line, where
# SIGPIPE once killed the process without a word (exit 141 in a shell).
case_output_to_a_closed_pipe() {
  have_python || { echo "  [$CASE] python3 not found: skipped"; return; }
  RC=$(python3 - "$BIN" "$ERR" <<'PY'
import os, subprocess, sys
r, w = os.pipe()
os.close(r)  # the reader is gone before the tool writes
with open(sys.argv[2], "wb") as err:
    print(subprocess.run([sys.argv[1], "catalog", "list"], stdout=w, stderr=err).returncode)
PY
)
  expect_rc 1
  expect_one_error_line "preflight: stdout: could not write the output"
}

case_catalog_list_json() {
  run catalog list --json
  expect_rc 0
  expect_stderr_empty
  expect_json '
assert len(j["hardware"]) >= 23, len(j["hardware"])
assert len(j["models"]) == 26, len(j["models"])
ids = {m["id"]: m for m in j["models"]}
assert ids["llama-3.1-8b"]["params_total"] == 8030261248
assert ids["mixtral-8x7b"]["params_active"] < ids["mixtral-8x7b"]["params_total"]
tables = {t["id"]: t for t in j["collective_tables"]}
assert tables["azure-nd-h100-v5"]["hardware"] == "h100-sxm-80gb", tables'
}

case_catalog_show() {
  run catalog show h100-sxm-80gb
  expect_rc 0
  expect_stderr_empty
  expect_stdout_has "h100-sxm-80gb"
  expect_stdout_has "989.4"
  expect_stdout_has "sources:"
}

case_catalog_show_json() {
  run catalog show h100-sxm-80gb --json
  expect_rc 0
  expect_stderr_empty
  expect_json '
assert j["id"] == "h100-sxm-80gb"
assert j["peak_tflops"]["bf16"]["value"] == 989.4
assert j["peak_tflops"]["bf16"]["source"]
assert j["memory"]["capacity_gib"]["value"] == 80
# A labelled proxy names the device it was measured on; the device'"'"'s own figures name none.
assert j["efficiency"]["sustained_fraction"]["bf16"]["proxy_of"] == "h200-sxm-141gb"
assert "proxy_of" not in j["efficiency"]["gemm_fraction"]["bf16"] and "proxy_of" not in j["efficiency"]["gemm_table"]
# The table says its clock and the sizes it measured, past which the step model holds or extrapolates its edge.
t = j["efficiency"]["gemm_table"]
assert t["clock"] == "burst" and t["sizes"]["bf16"] == {"m": [256, 4096], "n": [256, 4096], "k": [256, 4096]}, t
assert 700 < t["max_tflops"]["bf16"] < 989.4, t
# Its fp8 grid is the H200'"'"'s measurement and says so; the bf16 grid takes the file'"'"'s origin.
assert t["sizes"]["fp8"] == {"m": [256, 8192], "n": [256, 8192], "k": [256, 8192]}, t
assert t["grid_origins"]["fp8"]["proxy_of"] == "h200-sxm-141gb" and "H200" in t["grid_origins"]["fp8"]["source"], t
assert "bf16" not in t["grid_origins"], t'
  run catalog show h100-sxm-80gb
  expect_rc 0
  expect_stdout_has "its fp8 grid: preflight's own measurement on one lent H200 SXM"
  run catalog show h800-sxm-80gb --json
  expect_rc 0
  expect_json 'assert j["efficiency"]["gemm_table"]["proxy_of"] == "h100-sxm-80gb"
assert j["efficiency"]["gemm_table"]["grid_origins"]["fp8"]["proxy_of"] == "h200-sxm-141gb"'
}

# The README's scenario block (every option with its default) runs as written, once the two
# placeholder paths of the user's own measurements are taken out.
# The README's figures for its examples' what-ifs are the binary's, to the digits: DeepSeek-V3's memory
# the README gives (76 and 93 GiB, 118 GiB and exit 1, 86.7 GiB; a README line may break inside a
# sentence, so each pattern stays within one line): a model change that moves them
# fails here until the README says what plan prints.
case_readme_figures() {
  local example="$ROOT/examples/deepseek-v3-h800.yaml" got want
  readme_gib() {  # readme_gib REGEX: the number the README's text gives there
    grep -oE "$1" "$ROOT/README.md" | head -1 | grep -oE '[0-9]+(\.[0-9]+)?' | head -1
  }
  gib() {  # gib DIGITS: the last plan's per-device memory, rounded as the README rounds it
    python3 -c 'import json,sys; print("%.*f" % (int(sys.argv[2]), json.load(open(sys.argv[1]))["memory"]["per_device_bytes"] / 2**30))' "$OUT" "$1"
  }
  readme_plan_gib() {  # readme_plan_gib REGEX DIGITS RC WHAT SET...: the README's figure is plan's
    local want got
    want=$(readme_gib "$1")
    local digits=$2 rc=$3 what=$4
    shift 4
    run plan "$example" "$@" --json
    expect_rc "$rc"
    got=$(gib "$digits")
    [[ -n "$want" && "$got" == "$want" ]] || fail "README says $want GiB $what; plan says $got"
  }
  readme_plan_gib 'at [0-9]+ GiB, with the report' 0 0 "for the example"
  readme_plan_gib 'without it, [0-9]+ GiB' 0 1 "without low-precision activations" \
    --set training.low_precision_activations=false
  readme_plan_gib '\([0-9]+ GiB: it does not fit' 0 1 "with the all-to-all what-if" \
    --set training.ep_dispatcher=alltoall --set parallel.recompute_modules=core_attn
  readme_plan_gib '\([0-9]+\.[0-9] GiB for that example\)' 1 1 "with 16-bit FP8 inputs saved" \
    --set training.fp8_saved_inputs=false
  # The Llama 3.1 70B example at 32k tokens: the does-not-fit line the README quotes, word for word
  # (its lines joined), and the two steps it gives; the Megatron-softmax example's two steps.
  local readme llama="$ROOT/examples/llama3.1-70b-h100.yaml"
  readme=$(tr '\n' ' ' <"$ROOT/README.md")
  want=$(grep -oE 'does not fit: [0-9.]+ GiB over on stage 0; with parallel.recompute: +full [0-9.]+ GiB \(fits\); with parallel.recompute_method: block, recompute_num_layers: 3 [0-9.]+ GiB \(fits\)' <<<"$readme" | tr -s ' ')
  run plan "$llama" --seq-len 32768
  expect_rc 1
  [[ -n "$want" ]] && grep -qF -- "$want" "$OUT" || fail "README's does-not-fit line ('$want') is not what plan prints"
  want=$(grep -oE 'runs it: [0-9.]+ s a step against [0-9.]+ s' <<<"$readme" | grep -oE '[0-9.]+' | tr '\n' ' ')
  run plan "$llama" --seq-len 32768 --set parallel.recompute=full --set parallel.recompute_method=block \
    --set parallel.recompute_num_layers=3 --json
  step_s() { python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["time"]["step_s"])' "$OUT"; }
  got=$(step_s)
  run plan "$llama" --seq-len 32768 --set parallel.recompute=full --json
  got="$got $(step_s) "
  [[ "$got" == "$want" ]] || fail "README says the block and full recompute steps are '$want'; plan says '$got'"
  want=$(grep -oE '\([0-9.]+ s where the kernel gives [0-9.]+ s' <<<"$readme" | head -1 | tr -d '(')
  run plan "$ROOT/examples/gpt-18b-megatron-softmax.yaml"
  [[ -n "$want" ]] && grep -qF -- "$want" "$OUT" || fail "README's softmax fallback figures ('$want') are not what plan prints"
  # The example's failures line, its days P50 and P90 and what the held devices bill, as quoted.
  run plan "$llama"
  expect_rc 0
  local quote
  for quote in "$(grep -oE '`failures   llama3-h100-16k[^`]*`' "$ROOT/README.md" | head -1 | tr -d '`')" \
               "$(grep -oE '`[0-9.]+ days P50, [0-9.]+ P90; goodput [0-9.]+%`' "$ROOT/README.md" | head -1 | tr -d '`')" \
               "$(grep -oE '`held through P50: [^`]*`' "$ROOT/README.md" | head -1 | tr -d '`')"; do
    [[ -n "$quote" ]] && grep -qF -- "$quote" "$OUT" || fail "README quotes '$quote' for the example; plan prints otherwise"
  done
}

# docs/campaign.md's Llama 3 405B table (ideal days, P50 / P90 and goodput of each failure record)
# and its RSC-1 rework sentence, at the precision the page prints them: they had drifted by 0.7 day.
case_campaign_doc_figures() {
  have_python || { echo "  [$CASE] python3 not found: skipped"; return 0; }
  local doc="$ROOT/docs/campaign.md" row extra line
  local base=(plan "$ROOT/examples/llama3.1-70b-h100.yaml" --model llama-3.1-405b --devices 16384 --tp 8 --pp 16
              --vpp 1 --cp 1 --schedule 1f1b --recompute none --set parallel.layer_split=balanced
              --set training.tokens=15.6e12 --json)
  for row in "\`llama3-h100-16k\`|" "rsc2-a100|--set reliability.profile=rsc2-a100" \
             "rsc1-a100|--set reliability.profile=rsc1-a100" \
             "bloom-jeanzay-a100|--set reliability.profile=bloom-jeanzay-a100" \
             "in-memory checkpoints|--set reliability.checkpoint_blocking_s=0 --set reliability.detection_min=0.5 --set reliability.restart_min=3"; do
    extra=${row#*|}
    line=$(grep -F "${row%%|*}" "$doc" | grep -F '→' | head -1)
    [[ -n "$line" ]] || { fail "docs/campaign.md has no table row for ${row%%|*}"; continue; }
    # shellcheck disable=SC2086
    run "${base[@]}" $extra
    expect_rc 1  # 81.4 GiB: the page says plan exits 1
    python3 - "$OUT" "$line" <<'PY' || fail "docs/campaign.md's row '$line' is not what plan prints"
import json, re, sys
c = json.load(open(sys.argv[1]))["campaign"]; r = c["reliability"]
cells = [x.strip() for x in sys.argv[2].strip().strip("|").split("|")]
days = re.findall(r"[0-9.]+", cells[3])
want = [cells[1].rstrip(" h")] + days + [cells[4].rstrip("%")]
got = [r["job_mtbf_h"], c["days_ideal"], c["days_p50"], c["days_p90"], 100 * c["goodput"]]
# The checkpoint column: "every N min", "every N h" or "every step".
every = re.search(r"every ([0-9.]+) (min|h)", cells[2])
if every:
    want.append(every.group(1))
    got.append(r["checkpoint_interval_min"] / (60 if every.group(2) == "h" else 1))
elif "every step" not in cells[2] or r["interval_rule"] != "every step":
    sys.exit("checkpoint column %r, interval rule %s" % (cells[2], r["interval_rule"]))
def shown(v, like): return "%.*f" % (len(like.split(".")[1]) if "." in like else 0, v)
bad = [(w, shown(g, w)) for w, g in zip(want, got) if shown(g, w) != w]
if bad: sys.exit("doc/plan: %s" % bad)
PY
  done
  run "${base[@]}" --set reliability.profile=rsc1-a100
  python3 - "$OUT" "$doc" <<'PY' || fail "docs/campaign.md's RSC-1 rework figures are not what plan prints"
import json, re, sys
c = json.load(open(sys.argv[1]))["campaign"]
text = " ".join(open(sys.argv[2]).read().split())
m = re.search(r"redoes ([0-9.]+) days of work at RSC-1's failure rate, ([0-9.]+)% more energy than its ([0-9.]+) "
              r"ideal days \(([0-9,]+) MWh against ([0-9,]+)\)", text)
if not m: sys.exit("sentence not found")
got = ["%.1f" % c["reliability"]["rework_days_mean"], "%.1f" % (100 * (c["energy_mwh_with_rework"] / c["energy_mwh"] - 1)),
       "%.1f" % c["days_ideal"], "{:,.0f}".format(c["energy_mwh_with_rework"]), "{:,.0f}".format(c["energy_mwh"])]
if list(m.groups()) != got: sys.exit("doc %s, plan %s" % (list(m.groups()), got))
PY
  run "${base[@]}"
  python3 - "$OUT" "$doc" <<'PY' || fail "docs/campaign.md's rework at Llama 3's rate is not what plan prints"
import json, re, sys
c = json.load(open(sys.argv[1]))["campaign"]
text = " ".join(open(sys.argv[2]).read().split())
m = re.search(r"at Llama 3's own rate it redoes ([0-9.]+) days, ([0-9.]+)%", text)
got = ["%.1f" % c["reliability"]["rework_days_mean"], "%.1f" % (100 * (c["energy_mwh_with_rework"] / c["energy_mwh"] - 1))]
if not m or list(m.groups()) != got: sys.exit("doc %s, plan %s" % (m and list(m.groups()), got))
PY
}

# Figures docs/search.md and docs/cost-model.md quote of the binary, as they print them (a review
# found a dozen stale): the GB200 405B search by step time and by cost, the example's five distinct
# layouts, and the validation rows on proxy figures against those on their device's own.
case_search_and_cost_doc_figures() {
  have_python || { echo "  [$CASE] python3 not found: skipped"; return 0; }
  local text
  text=$(tr '\n' ' ' <"$ROOT/docs/search.md" | tr -s ' ')
  local gb=(search "$ROOT/examples/llama3.1-70b-h100.yaml" --hardware gb200-nvl72 --model llama-3.1-405b
            --set cluster.devices=1152 --top 1 --no-progress --json)
  local objective
  for objective in step_time cost; do
    run "${gb[@]}" --objective "$objective"
    expect_rc 0
    python3 - "$OUT" "$text" "$objective" <<'PY' || fail "docs/search.md's GB200 405B figures ($objective) are not what search prints"
import json, re, sys
j = json.load(open(sys.argv[1])); text = sys.argv[2]; objective = sys.argv[3]
m = re.search(r"runs fastest at TP (\d+) × CP (\d+) × PP (\d+) under (\S+) \(([0-9.]+) s a step\).*? hold \d+ racks, "
              r"([0-9,]+) GPUs: \$([0-9.]+) M at \$([0-9.]+) an hour; TP (\d+) × CP (\d+) × PP (\d+) under (\S+) "
              r"\(([0-9.]+) s\).*?holds ([0-9,]+): \$([0-9.]+) M, first by cost", text)
if not m: sys.exit("paragraph not found")
g = m.groups()
want = g[0:7] if objective == "step_time" else g[8:15]
p = j["plans"][0]; plan = p["plan"]; c = p["campaign"]
names = {"zb-h1": "ZB-H1", "dualpipe": "DualPipe", "1f1b": "1F1B", "interleaved": "interleaved", "gpipe": "GPipe"}
# The dollars: the held devices' ideal hours at the catalog's price, as `--objective cost` ranks them.
usd = c["days_ideal"] * 24 * c["devices_held"] * float(g[7]) / 1e6
got = (str(plan["tp"]), str(plan["cp"]), str(plan["pp"]), names.get(plan["schedule"], plan["schedule"]),
       "%.2f" % p["time"]["step_s"], "{:,}".format(c["devices_held"]), "%.1f" % usd)
if tuple(want) != got: sys.exit("doc %s, search %s" % (want, got))
if objective == "cost" and abs(p["objective"] / 1e6 - float(g[14])) > 0.05: sys.exit("cost objective %s" % p["objective"])
PY
  done
  run search "$ROOT/examples/llama3.1-70b-h100.yaml" --top 5 --distinct --no-progress --json
  expect_rc 0
  python3 - "$OUT" "$text" <<'PY' || fail "docs/search.md's five distinct layouts are not what search prints"
import json, re, sys
steps = [p["time"]["step_s"] for p in json.load(open(sys.argv[1]))["plans"]]
m = re.search(r"five layouts ([0-9.]+) to ([0-9.]+) s a step", sys.argv[2])
if not m or list(m.groups()) != ["%.2f" % steps[0], "%.2f" % steps[-1]]: sys.exit("doc %s, search %s" % (m and m.groups(), steps))
PY
  run validate "$ROOT"/data/validation/*.yaml --json
  python3 - "$OUT" "$ROOT/docs/cost-model.md" <<'PY' || fail "docs/cost-model.md's proxy-figure rows are not what validate prints"
import json, re, sys
by = json.load(open(sys.argv[1]))["by_proxy_figures"]
text = " ".join(open(sys.argv[2]).read().split())
m = re.search(r"bundled files ([0-9,]+) of ([0-9,]+) do \(([0-9.]+)% MAPE, bias ([−+-]?[0-9.]+)%\), the other ([0-9,]+) read only "
              r"their device's own figures \(([0-9.]+)%, ([−+-]?[0-9.]+)%", text)
if not m: sys.exit("sentence not found")
proxy, own = by["rests on proxy figures"], by["device's own figures"]
signed = lambda v: ("%+.1f" % (100 * v)).replace("-", "−")
want = [x.replace("-", "−") for x in m.groups()]
for i in (3, 6):
    if want[i][0] not in "−+": want[i] = "+" + want[i]
got = ["{:,}".format(proxy["runs"]), "{:,}".format(proxy["runs"] + own["runs"]), "%.1f" % (100 * proxy["mape"]),
       signed(proxy["mean_error"]), "{:,}".format(own["runs"]), "%.1f" % (100 * own["mape"]), signed(own["mean_error"])]
if want != got: sys.exit("doc %s, validate %s" % (want, got))
PY
}

case_readme_scenario_block() {
  python3 - "$ROOT/README.md" "$WORK/readme.yaml" <<'PY' || { fail "no scenario block in README.md"; return; }
import re, sys
text = open(sys.argv[1]).read()
block = re.search(r"```yaml\n(name: .*?)```", text, re.S).group(1)
lines = [l for l in block.splitlines() if "my-h100-gemms.yaml" not in l and "my-node-nccl.yaml" not in l]
open(sys.argv[2], "w").write("\n".join(lines) + "\n")
PY
  run plan "$WORK/readme.yaml"
  expect_rc 0
  expect_stdout_has "FITS"
}

# Inputs a fuzzer broke the contract with: each is now one line on stderr, exit 2, nothing on stdout.
case_fuzzed_inputs() {
  # A hardware file without the peak the GEMMs run at (the step was NaN).
  sed -e 's/^  bf16: {value: 989.4.*/  bf16: {unknown: true}/' -e 's/^id: .*/id: nobf16/' "$PREFLIGHT_DATA/hardware/h100-sxm-80gb.yaml" > "$WORK/nobf16.yaml"
  run plan "$EXAMPLE" --set hardware="$WORK/nobf16.yaml"
  expect_bad_input "hardware" "peak_tflops.bf16"
  # Nor without its HBM bandwidth (1 TB/s was assumed, with a warning).
  sed -e 's/^  bandwidth_tbytes_per_s: {value: 3.35.*/  bandwidth_tbytes_per_s: {unknown: true}/' -e 's/^id: .*/id: nohbm/' "$PREFLIGHT_DATA/hardware/h100-sxm-80gb.yaml" > "$WORK/nohbm.yaml"
  grep -q "bandwidth_tbytes_per_s: {unknown: true}" "$WORK/nohbm.yaml" || fail "the HBM line of h100-sxm-80gb.yaml changed"
  run plan "$EXAMPLE" --set hardware="$WORK/nohbm.yaml"
  expect_bad_input "hardware" "memory.bandwidth_tbytes_per_s"
  # A newline in a value stays on one line.
  run plan "$EXAMPLE" --set "training.precision=bf16
x"
  expect_bad_input "training.precision" 'bf16\nx'
  # Directories and devices are not read as files; degrees that overflow are refused.
  run plan "$EXAMPLE" --model /tmp
  expect_bad_input "model"
  run plan /dev/zero
  expect_bad_input "/dev/zero"
  run plan "$EXAMPLE" --tp 4294967296 --pp 4294967296
  expect_bad_input "parallel.tp"
  # Each degree within 2^24 but their product not (it wrapped to 0 or 4 once: a SIGFPE); named by
  # the largest degree (the last of equals).
  run plan "$EXAMPLE" --set parallel.tp=16777216 --set parallel.cp=16777216 --set parallel.pp=16777216 --set parallel.vpp=1
  expect_bad_input "parallel.pp: expected tp*cp*pp"
  run plan "$EXAMPLE" --set parallel.tp=4194304 --set parallel.cp=4194304 --set parallel.pp=4194304 --set parallel.vpp=1
  expect_bad_input "parallel.pp: expected tp*cp*pp"
  run plan "$EXAMPLE" --set parallel.tp=4 --set parallel.cp=16777216
  expect_bad_input "parallel.cp: expected tp*cp*pp"
  # What still runs: a pipe as the scenario, fp16 on a device whose fp16 peak is unknown (bf16's
  # stands in, with a warning).
  run plan <(cat "$EXAMPLE")
  expect_rc 0
  run plan "$EXAMPLE" --set hardware=gaudi2 --set training.precision=fp16
  [[ "$RC" != 2 ]] || fail "fp16 on gaudi2 refused: $(cat "$ERR")"
  # A name longer than a file name may be (an uncaught filesystem_error once).
  local long
  long=$(printf 'y%.0s' {1..300})
  run plan "$EXAMPLE" --model "$long"
  expect_bad_input "model"
  run plan "$EXAMPLE" --set hardware="$long"
  expect_bad_input "hardware"
  run catalog show "$long"
  expect_rc 2
  # An empty flag value (the file's value was kept silently).
  run plan "$EXAMPLE" --tp ""
  expect_bad_input "--tp"
  run search "$EXAMPLE" --devices ""
  expect_bad_input "--devices"
  # A validation file with nothing measured (it reported "0 runs", exit 0).
  printf '[]\n' > "$WORK/empty.yaml"
  run validate "$WORK/empty.yaml"
  expect_bad_input "empty.yaml" "measured"
  # A value echoed whole once wrote a 100 KB line: the start and end stay, the middle is counted.
  local huge
  huge=$(printf 'x%.0s' {1..100000})
  run plan "$EXAMPLE" --set "$huge=1"
  expect_bad_input "bytes left out"
  (( $(wc -c <"$ERR") < 1200 )) || fail "the error line should be short, got $(wc -c <"$ERR") bytes"
  # So is one of bytes that are not UTF-8 (a run of continuation bytes once kept the whole 1 MB):
  # the value is shown by its start and its length, each byte escaped (a terminal sees text).
  # A file of them is refused where it is read (not UTF-8); a value given on the command line is
  # shortened.
  head -c 1000000 /dev/zero | tr '\0' '\245' > "$WORK/bytes.yaml"
  run plan "$WORK/bytes.yaml"
  expect_bad_input "bytes.yaml: expected UTF-8 text, got the byte 0xA5 at line 1"
  run plan "$EXAMPLE" --set "model=$(head -c 100000 /dev/zero | tr '\0' '\245')"
  expect_bad_input "\\xa5\\xa5" "bytes left out"
  (( $(wc -c <"$ERR") < 1200 )) || fail "the error line should be short, got $(wc -c <"$ERR") bytes"
  # A C1 control (CSI, which a terminal acts on) is escaped; é is kept.
  printf 'name: x\nmodel: "a\xc2\x9b[31m b c\xc3\xa9"\n' > "$WORK/c1.yaml"
  run plan "$WORK/c1.yaml"
  expect_bad_input "c1.yaml" '\xc2\x9b[31m' $'c\xc3\xa9'
  # A UTF-8 surrogate is no UTF-8: the file is refused where it is read, naming the byte and line.
  printf 'name: x\nmodel: "b\xed\xa0\x80"\n' > "$WORK/surrogate.yaml"
  run plan "$WORK/surrogate.yaml"
  expect_bad_input "surrogate.yaml: expected UTF-8 text, got the byte 0xED at line 2"
  # So are the line and paragraph separators U+2028 and U+2029, which break a line in a log reader.
  printf 'name: "a\xe2\x80\xa8b\xe2\x80\xa9c"\nmodel: llama-3.1-8b\n' > "$WORK/ls.yaml"
  run plan "$WORK/ls.yaml"
  expect_bad_input "ls.yaml" 'a\xe2\x80\xa8b\xe2\x80\xa9c'
  # And the bidirectional controls, which reorder what a terminal shows after them (U+202E, U+2066).
  run plan "$EXAMPLE" --set "$(printf 'training.a\xe2\x80\xaeb\xe2\x81\xa6c=1')"
  expect_bad_input 'a\xe2\x80\xaeb\xe2\x81\xa6c'
  # A collective time that vanishes into 0 s once gave MFU 607% at exit 0.
  printf 'source: x\ncollectives:\n  - {op: all_reduce, ranks: 8, rows: [[1048576, 1e-320], [16777216, 2e-300]]}\n' > "$WORK/tiny.yaml"
  run plan "$EXAMPLE" --set cluster.collective_table="$WORK/tiny.yaml"
  expect_bad_input "tiny.yaml" "collectives[0].rows[0]" "a time from 1e-3"
}

# `catalog show --json` carries every figure of every hardware file (the model reads them all).
case_catalog_show_json_every_key() {
  local hw
  for hw in "$PREFLIGHT_DATA"/hardware/*.yaml; do
    run catalog show "$hw" --json
    expect_rc 0
    cp "$OUT" "$WORK/hw.json"
    python3 - "$hw" "$WORK/hw.json" <<'PY' || fail "catalog show --json leaves out keys of $hw"
import json, re, sys
top, eff, section = [], [], None
for line in open(sys.argv[1]):
    m = re.match(r"^([a-z_0-9]+):", line)
    if m:
        section = m.group(1)
        top.append(section)
        continue
    m = re.match(r"^  ([a-z_0-9]+):", line)
    if m and section == "efficiency":
        eff.append(m.group(1))
j = json.load(open(sys.argv[2]))
missing = [k for k in top if k != "notes" and k not in j]
missing += ["efficiency." + k for k in eff if k not in j["efficiency"]]
assert not missing, missing
p = j["price_usd_per_device_hour"]
assert "known" in p and (not p["known"] or "low" in p), p
PY
  done
}

# A hardware file whose name is not valid UTF-8 still shows as JSON (the bad byte replaced), and the
# attention kernels are listed.
case_catalog_show_json_bad_utf8() {
  local hw="$WORK/odd.yaml"
  sed -e 's/^name: .*/name: "H100 \xff"/' "$PREFLIGHT_DATA/hardware/h100-sxm-80gb.yaml" > "$hw"
  # A byte that is not UTF-8 is refused where the file is read (the JSON once replaced it while the
  # text echoed it), with --json as without.
  run catalog show "$hw" --json
  expect_bad_input "odd.yaml: expected UTF-8 text, got the byte 0xFF at line 5"
  run catalog show "$hw"
  expect_bad_input "odd.yaml: expected UTF-8 text, got the byte 0xFF at line 5"
}

case_catalog_show_model() {
  run catalog show llama-3.1-8b
  expect_rc 0
  expect_stdout_has "8030261248"
  run catalog show deepseek-v3 --json
  expect_rc 0
  expect_json 'assert j["params_total"] == 671026419200 and j["model_type"] == "deepseek_v3"'
  run catalog show deepseek-v3
  expect_stdout_has "attention: MLA, q rank 1536, kv rank 512"
  run catalog show gpt-oss-120b
  expect_rc 0
  expect_stdout_has "116829156672"
  expect_stdout_has "attention: 64 query heads, 8 KV heads, a 128-token window on even layers, q/k/v/o biases, a sink logit per head"
  expect_stdout_has "router bias, expert biases"
}

case_catalog_show_unknown() {
  run catalog show no-such-thing
  expect_bad_input "no-such-thing"
  run catalog frobnicate
  expect_bad_input "frobnicate"
}

# `catalog show PATH` tells a file's kind by its ending and keys: a model's config, a collective
# table, a host profile, a GEMM table (checked against its device) and a hardware file.
case_catalog_show_path() {
  run catalog show "$EXAMPLE"
  expect_bad_input "$EXAMPLE" "got a scenario"
  run catalog show "$ROOT/data/models/llama-3.1-8b.json" --json
  expect_rc 0
  expect_json 'assert j["id"] == "llama-3.1-8b" and j["params_total"] == 8030261248, j["id"]'
  run catalog show "$ROOT/data/collectives/azure-nd-h100-v5.yaml" --json
  expect_rc 0
  expect_json 'assert j["hardware"] == "h100-sxm-80gb" and len(j["curves"][0]["rows"]) == 24, j["hardware"]'
  run catalog show "$ROOT/data/host/megatron-deepspeed-gpt-eager-zen3.yaml" --json
  expect_rc 0
  expect_json 'assert j["gpu_waits_per_layer_forward"] == 2, j'
  run catalog show "$ROOT/data/gemm/h100-sxm-80gb.yaml" --json
  expect_rc 0
  expect_json 'assert j["id"] == "h100-sxm-80gb" and list(j["max_tflops"]) == ["bf16", "fp8"], j
assert list(j["grid_origins"]) == ["fp8"] and j["grid_origins"]["fp8"]["proxy_of"] == "h200-sxm-141gb", j'
  run catalog show "$ROOT/data/hardware/a100-sxm-80gb.yaml"
  expect_rc 0
  expect_stdout_has "a100-sxm-80gb"
  local f
  f=$(write gemm.yaml "id: no-such-device
source: test
shapes:
  bf16:
    - [256, 256, 256, 6.7]")
  run catalog show "$f"
  expect_bad_input "$f" "id:" "no-such-device"
  # A collective table naming no catalog device is refused as the GEMM table is (fuzzing found it shown).
  f="$WORK/nosuch-collectives.yaml"
  sed 's/^hardware: h100-sxm-80gb/hardware: nosuch/' "$ROOT/data/collectives/azure-nd-h100-v5.yaml" > "$f"
  run catalog show "$f"
  expect_bad_input "$f" "hardware:" "nosuch"
  # A GEMM table with no grid (fuzzing found it shown, and read as no table).
  f=$(write gemm-empty.yaml "id: h100-sxm-80gb
source: test
shapes: {}")
  run catalog show "$f"
  expect_bad_input "$f" "shapes:"
  f=$(write model.json '{"model_type": "llama", "hidden_size": -1}')
  run catalog show "$f"
  expect_bad_input "$f"
  # A host profile without its layer times is still a host profile (its optional shapes: once made
  # it read as a GEMM table).
  f=$(write profile.yaml "id: p
source: test
stack: test
micro_batch_us: 800
shapes: {hidden: 64}")
  run catalog show "$f"
  expect_bad_input "$f" "layer_us:"
}

case_plan_example() {
  run plan "$EXAMPLE"
  expect_rc 0
  expect_stderr_empty
  expect_stdout_has "llama-3.1-70b"
  expect_stdout_has "h100-sxm-80gb"
  expect_stdout_has "FITS"
}

# A scenario whose lines end in CR LF or in a CR alone (YAML 1.2's other two line breaks) plans as
# the LF file does.
case_plan_line_endings() {
  run plan "$EXAMPLE"
  cp "$OUT" "$WORK/lf.out"
  sed 's/$/\r/' "$EXAMPLE" >"$WORK/crlf.yaml"
  tr '\n' '\r' <"$EXAMPLE" >"$WORK/cr.yaml"
  for f in crlf cr; do
    run plan "$WORK/$f.yaml"
    expect_rc 0
    expect_stderr_empty
    diff -q <(sed "s|$WORK/$f.yaml|FILE|" "$OUT") <(sed "s|$EXAMPLE|FILE|" "$WORK/lf.out") >/dev/null ||
      fail "$f line endings plan differently from LF"
  done
}

case_plan_example_json() {
  run plan "$EXAMPLE" --json
  expect_rc 0
  expect_stderr_empty
  expect_json '
for k in ("name", "params_total", "params_active", "flops_per_token"): assert k in j["model"], k
for k in ("name", "devices"): assert k in j["hardware"], k
for k in ("tp", "pp", "vpp", "dp", "cp", "ep", "zero", "schedule", "recompute", "micro_batch", "global_batch"):
    assert k in j["plan"], k
m = j["memory"]
for k in ("per_device_bytes", "capacity_bytes", "fits"): assert k in m, k
for k in ("weights", "gradients", "optimizer", "activations", "other"): assert k in m["breakdown"], k
assert m["fits"] is True
assert isinstance(j["compat"]["blocking"], list) and not j["compat"]["blocking"]
assert isinstance(j["compat"]["warnings"], list)
assert j["plan"]["tp"] == 4 and j["plan"]["pp"] == 4 and j["plan"]["vpp"] == 5 and j["plan"]["cp"] == 2
assert j["hardware"]["devices"] == 1024
c = j["campaign"]
assert c["days_ideal"] < c["days_p50"] <= c["days_p90"], c
assert 0 < c["goodput"] < 1 and c["reliability"]["profile"] == "llama3-h100-16k", c
L = j["time"]["layer"]
assert list(L) == ["dense"], L
d = L["dense"]
parts = ("forward_s", "backward_s", "recompute_s", "elementwise_s", "comm_contention_s", "host_wait_s")
total = sum(d[k] for k in parts) + sum(d["exposed_comm_by_kind"].values())
assert abs(total - d["total_s"]) <= 1e-9 * d["total_s"], (total, d)
assert 0 < d["attention_forward_s"] < d["forward_s"] and 0 < d["attention_backward_s"] < d["backward_s"], d'
  run plan "$EXAMPLE"
  expect_stdout_has "each layer, per micro-batch"
}

# The failure model: a named profile, a figure of the scenario's own, `none`; bad figures and
# profile files are bad input naming the field.
case_reliability() {
  run plan "$EXAMPLE" --set reliability.profile=bloom-jeanzay-a100 --set reliability.restart_min=30 --json
  expect_rc 0
  expect_json 'r = j["campaign"]["reliability"]
assert r["profile"] == "bloom-jeanzay-a100" and r["restart_min"] == 30 and r["interval_rule"] == "given", r'
  run plan "$EXAMPLE" --set reliability=none --json
  expect_rc 0
  expect_json 'assert j["campaign"]["days_p50"] is None and j["campaign"]["goodput"] is None'
  run plan "$EXAMPLE"
  expect_stdout_has "failures   llama3-h100-16k (128 nodes of 8): job MTBF"
  run plan "$EXAMPLE" --set reliability.detection_min=-5
  expect_bad_input "$EXAMPLE" "reliability.detection_min"
  run plan "$EXAMPLE" --set reliability.profile=lemon
  expect_bad_input "$EXAMPLE" "reliability.profile"
  sed -e 's/^  value: 10$/  value: ten/' "$PREFLIGHT_DATA/reliability/llama3-h100-16k.yaml" > "$WORK/rel.yaml"
  run plan "$EXAMPLE" --set reliability.profile="$WORK/rel.yaml"
  expect_bad_input "rel.yaml" "restart_min.value"
  # catalog show reads a profile file without its main figure as a profile, and says what is missing.
  awk '/^[a-z]/ { skip = /^failures_per_node_day:/ } !skip' "$PREFLIGHT_DATA/reliability/rsc1-a100.yaml" > "$WORK/partial.yaml"
  run catalog show "$WORK/partial.yaml"
  expect_bad_input "partial.yaml" "failures_per_node_day"
  run plan "$EXAMPLE" --set reliability.checkpoint_write_gbytes_per_s_per_node=1e-305
  expect_bad_input "$EXAMPLE" "reliability.checkpoint_write_gbytes_per_s_per_node"
  # A run whose checkpoints alone outlast 1e12 s does not finish, and says why (a giant stall once
  # hung the Monte Carlo).
  local slow=(--set reliability.checkpoint_write_gbytes_per_s_per_node=0.001
              --set reliability.checkpoint_bytes_per_param=1000 --set training.tokens=1e18)
  run plan "$EXAMPLE" "${slow[@]}"
  expect_rc 0
  expect_stdout_has "the run does not finish: its work and checkpoints alone take more than 1e+12 s"
  run plan "$EXAMPLE" "${slow[@]}" --json
  expect_json 'r = j["campaign"]["reliability"]
assert r["too_long"] is True and r["finishes"] is False and j["campaign"]["days_p50"] is None, r'
}

case_plan_overrides() {
  run plan "$EXAMPLE" --model llama-3.1-8b --tp 1 --sp false --pp 1 --vpp 1 --cp 1 --schedule 1f1b --recompute full --devices 8 --json
  expect_rc 0
  expect_json 'assert j["model"]["name"] == "llama-3.1-8b" and j["plan"]["dp"] == 8, j["plan"]'
  run plan "$EXAMPLE" --set training.seq_len=4096 --json
  expect_rc 0
  expect_json 'assert j["plan"]["global_batch"] == 4096, j["plan"]["global_batch"]'
  # --set takes one value: the scenario may follow it, for plan and search alike.
  run plan --set training.seq_len=4096 "$EXAMPLE" --json
  expect_rc 0
  expect_json 'assert j["plan"]["global_batch"] == 4096, j["plan"]["global_batch"]'
  run search --set training.seq_len=4096 "$EXAMPLE" --top 1 --json
  expect_rc 0
  expect_json 'assert len(j["plans"]) == 1'
  run plan "$EXAMPLE" --json
  expect_rc 0
  local fused
  fused=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["time"]["step_s"])' <"$OUT")
  run plan "$EXAMPLE" --set training.elementwise_fusion=false
  expect_rc 0
  expect_stdout_has "elementwise: eager PyTorch, op by op"
  run plan "$EXAMPLE" --set training.elementwise_fusion=false --json
  expect_rc 0
  expect_json "assert j['time']['step_s'] > $fused, (j['time']['step_s'], $fused)"
  run plan "$EXAMPLE" --set training.cross_entropy=pytorch --set parallel.recompute=selective-op
  expect_rc 0
  expect_stdout_has "loss: PyTorch's F.cross_entropy on fp32 logits"
  expect_stdout_has "recompute selective-op"
  run plan "$EXAMPLE" --set training.cross_entropy=compiled
  expect_rc 0
  expect_stdout_has "loss: F.cross_entropy under torch.compile"
  run plan "$EXAMPLE" --set training.cross_entropy=fused
  expect_bad_input "training.cross_entropy"
  run plan "$EXAMPLE" --set parallel.recompute=selective --set parallel.recompute_modules=moe_act,layernorm
  expect_rc 0
  expect_stdout_has "recompute selective (layernorm,moe_act)"
  run plan "$EXAMPLE" --set parallel.recompute=selective --set parallel.recompute_modules=layernorm --json
  expect_rc 0
  expect_json 'assert j["plan"]["recompute_modules"] == ["layernorm"], j["plan"]'
  run plan "$EXAMPLE" --set parallel.recompute=selective --set parallel.recompute_modules=attn
  expect_bad_input "parallel.recompute_modules"
  # JAX's named checkpoints: the kept names in the plan line and the JSON, the offload warned.
  run plan "$EXAMPLE" --set parallel.recompute=names --set 'parallel.recompute_saved=[qkv_proj]' \
    --set 'parallel.recompute_offloaded=[decoder_layer_input]'
  expect_rc 0
  expect_stdout_has "recompute names (saved query_proj,key_proj,value_proj; offloaded decoder_layer_input)"
  expect_stdout_has "the copies to host memory and back are taken as hidden under compute"
  run plan "$EXAMPLE" --set parallel.recompute=names --set 'parallel.recompute_saved=[qkv_proj]' \
    --set 'parallel.recompute_offloaded=[decoder_layer_input]' --json
  expect_rc 0
  expect_json 'assert j["plan"]["recompute"] == "names" and j["plan"]["recompute_saved"] == ["query_proj", "key_proj", "value_proj"] and j["plan"]["recompute_offloaded"] == ["decoder_layer_input"], j["plan"]'
  run plan "$EXAMPLE" --set parallel.recompute=names --set parallel.recompute_saved=mlp_out
  expect_bad_input "parallel.recompute_saved"
  run plan "$EXAMPLE" --set parallel.recompute_saved=out_proj
  expect_rc 0
  expect_stdout_has "recompute_saved does nothing without recompute: names"
  # Hybrid sharding: ZeRO over 8 of the example's 32 data-parallel ranks (times CP 2), 4 replicas.
  run plan "$EXAMPLE" --set parallel.dp_shard=8
  expect_rc 0
  expect_stdout_has "hsdp: zero over 8 DP ranks x CP 2, 4 replicas"
  run plan "$EXAMPLE" --set parallel.dp_shard=8 --json
  expect_rc 0
  expect_json 'assert j["plan"]["dp_shard"] == 8, j["plan"]'
  run plan "$EXAMPLE" --set parallel.dp_shard=32 --json
  expect_rc 0
  expect_json 'assert "dp_shard" not in j["plan"], j["plan"]'
  run plan "$EXAMPLE" --set parallel.dp_shard=6
  expect_rc 1
  expect_stdout_has "dp_shard 6 must divide dp 32"
  # A YAML flow list or mapping on the command line is read as one.
  run plan "$EXAMPLE" --set parallel.recompute=selective --set 'parallel.recompute_modules=[moe_act, layernorm]'
  expect_rc 0
  expect_stdout_has "recompute selective (layernorm,moe_act)"
  run plan "$EXAMPLE" --set 'cluster={devices: 128, devices_per_node: 8}' --dp 4 --json
  expect_rc 0
  expect_json 'assert j["hardware"]["devices"] == 128, j["hardware"]'
  run plan "$EXAMPLE" --set 'parallel.recompute_modules=[moe_act'
  expect_bad_input "$EXAMPLE: parallel.recompute_modules: expected a YAML flow sequence" "(the value given on the command line)"
  run plan "$EXAMPLE" --set training.ep_dispatcher=nccl
  expect_bad_input "training.ep_dispatcher"
  # The example states global_batch_tokens: --global-batch replaces it rather than clashing.
  run plan "$EXAMPLE" --global-batch 1024 --json
  expect_rc 0
  expect_json 'assert j["plan"]["global_batch"] == 1024, j["plan"]'
  # `parallel` left empty or null searches, as in a file.
  local value
  for value in "" null; do
    run plan "$EXAMPLE" --set "parallel=$value" --json
    expect_rc 0
    expect_json 'assert j["plan"]["searched"] is True, j["plan"]'
  done
  # Any other key given null is bad input, as `name: null` in a file is (it had named the plan "null").
  for value in null "~"; do
    run plan "$EXAMPLE" --set "name=$value"
    expect_bad_input "$EXAMPLE: name: expected a string, got nothing" "(the value given on the command line: name=$value)"
  done
  # What-ifs that rule FP8 out drop the file's FP8-only settings with a warning (ARCHITECTURE.md's
  # "DeepSeek-V3 on H800 or Ascend 910C?"); exit 1 where the job then does not fit.
  local ds="$ROOT/examples/deepseek-v3-h800.yaml" what rc
  for what in "--hardware ascend-910c:0" "--hardware a100-sxm-80gb:1" "--precision bf16:1"; do
    rc=${what##*:}
    # shellcheck disable=SC2086
    run plan "$ds" ${what%:*}
    expect_rc "$rc"
    expect_stdout_has "training.low_precision_activations: true dropped: it needs precision: fp8 on a device with an FP8 rate"
    expect_stdout_has "training.fp8_dispatch: true dropped"
  done
  run search "$ds" --hardware ascend-910c --top 1 --no-progress
  expect_rc 0
  expect_stdout_has "deepseek-v3 on 2048 x ascend-910c"
  expect_stdout_has "warning: training.low_precision_activations: true dropped"  # as plan says it
  # ... and the kernel a validation file names, under flash_attention=false.
  run validate "$ROOT/data/validation/memory.yaml" --set training.flash_attention=false
  expect_rc 0
  # Stated by the file itself, the contradiction is its bad input, whatever the command line gives.
  local f
  f=$(write bf16-storage.yaml "model: llama-3.1-8b
hardware: h100-sxm-80gb
cluster: {devices: 8}
training: {seq_len: 4096, global_batch: 64, precision: bf16, low_precision_activations: true}")
  run plan "$f" --hardware a100-sxm-80gb
  expect_bad_input "$f: training.low_precision_activations: expected precision: fp8"
  # Activation offloading, which Megatron-Core refuses beside a pipeline or recompute: a --pp 2 or
  # --recompute drops it (it was an INVALID plan); the pair the file or the command line states
  # itself stays an invalid plan (exit 1), and search keeps the file's offload where it may.
  f=$(write offload.yaml "model: llama-3.1-8b
hardware: gb200-nvl72
cluster: {devices: 8}
parallel: {tp: 1, pp: 1, dp: 8, zero: 1, recompute: none, cpu_offload_layers: 8}
training: {seq_len: 4096, global_batch: 64, precision: bf16}")
  for what in "--pp 2 --dp 4" "--recompute full"; do
    # shellcheck disable=SC2086
    run plan "$f" $what --json
    expect_rc 0
    expect_json 'assert j["plan"]["valid"] and "cpu_offload_layers" not in j["plan"], j["plan"]'
    expect_stdout_has "parallel.cpu_offload_layers: 8 dropped: it needs pp 1 and recompute none (Megatron-Core's rules for cpu_offloading), which the command line's parallel."
  done
  run plan "$f" --pp 2 --dp 4 --set parallel.cpu_offload_layers=4
  expect_rc 1
  expect_stdout_has "cpu_offload_layers 4 needs fewer layers than the model's 32, pp 1 and recompute none"
  run search "$f" --fix-pp 1 --fix-recompute none --top 1 --no-progress --json
  expect_rc 0
  expect_json 'assert j["plans"][0]["plan"]["cpu_offload_layers"] == 8, j["plans"][0]["plan"]'
  sed -i 's/recompute: none/recompute: selective/' "$f"
  run plan "$f"
  expect_rc 1
  expect_stdout_has "cpu_offload_layers 8 needs fewer layers than the model's 32, pp 1 and recompute none"
  run plan "$f" --hardware h100-sxm-80gb  # a drop for another reason leaves the file's own pair
  expect_rc 1
  expect_stdout_has "cpu_offload_layers 8 needs"
  run search "$f" --fix-pp 1 --fix-recompute none --top 1 --no-progress --json
  expect_rc 0
  expect_json 'assert j["plans"][0]["plan"]["cpu_offload_layers"] == 8, j["plans"][0]["plan"]'
}

# What-ifs on a catalog model change one key of its config; a misspelt key, or one its model_type
# never reads, is refused (it would change nothing); a hardware file is replaced whole.
case_override_catalog_fields() {
  run plan "$EXAMPLE" --set model.num_hidden_layers=40 --json
  expect_rc 0
  expect_json 'assert j["model"]["ops"][0]["layers"] == 40 and 3.5e10 < j["model"]["params_total"] < 3.7e10, j["model"]'
  # null means absent in a Hugging Face config, on the command line as in config.json: head_dim
  # then follows from hidden_size / num_attention_heads (128: 70.55B parameters, where 64 gives 64.51B).
  run plan "$EXAMPLE" --set model.head_dim=64 --set model.head_dim=null --json
  expect_rc 0
  expect_json 'assert j["model"]["params_total"] == 70553706496, j["model"]["params_total"]'
  run plan "$EXAMPLE" --set model.num_hiden_layers=40
  expect_bad_input "$EXAMPLE: model.num_hiden_layers: expected a key its model_type llama reads (" "num_hidden_layers" "(the value given on the command line)"
  run plan "$EXAMPLE" --set model=llama-3.1-8b --set model.num_hidden_layers=40 --json
  expect_rc 0
  expect_json 'assert j["model"]["ops"][0]["layers"] == 40 and 9e9 < j["model"]["params_total"] < 1e10, j["model"]'
  run validate "$ROOT/data/validation/korthikanti-2022.yaml" --set model.n_layr=4
  expect_bad_input "korthikanti-2022.yaml: [0].model.n_layr: expected a key its model_type gpt2 reads"
  run plan "$EXAMPLE" --set model=no-such-model --set model.num_hidden_layers=8
  expect_bad_input "$EXAMPLE: model: unknown model id 'no-such-model'"
  run plan "$EXAMPLE" --set hardware.memory.capacity_gib=96
  expect_bad_input "$EXAMPLE: hardware.memory.capacity_gib: expected hardware=ID_OR_PATH"
  # search takes plan's what-if flags for what it does not choose.
  run search "$EXAMPLE" --hardware b200-180gb --seq-len 4096 --top 1 --no-progress
  expect_rc 0
  expect_stdout_has "llama-3.1-70b on 1024 x b200-180gb"
  run search "$EXAMPLE" --tp 2 --top 1 --no-progress
  expect_bad_input "--tp"
}

# Inputs that read but would mislead are named: a campaign shorter than one step, a cluster that
# leaves a node partly used, a kernel name given empty.
case_odd_but_valid_inputs() {
  run plan "$EXAMPLE" --set training.tokens=1
  expect_rc 0
  expect_stdout_has "training.tokens (1) is less than one step's 16777216 tokens"
  run plan "$EXAMPLE" --devices 1020 --dp 255 --set 'parallel={tp: 4, pp: 1, dp: 255, cp: 1}' --set training.global_batch=1020
  expect_stdout_has "cluster.devices 1020 is no multiple of devices_per_node 8"
  run plan "$EXAMPLE" --set training.attention_kernel=
  expect_bad_input "training.attention_kernel: expected one of the kernels measured for h100-sxm-80gb" "got ''"
  # A config.json beside the scenario names the model after their folder.
  local dir="$WORK/my-model" ref
  mkdir -p "$dir"
  cp "$ROOT/data/models/llama-3.1-8b.json" "$dir/config.json"
  for ref in config.json ./config.json; do
    printf 'model: %s\nhardware: h100-sxm-80gb\ncluster: {devices: 8}\nparallel: {tp: 1, zero: 1, recompute: full}\ntraining: {seq_len: 4096, global_batch: 64}\n' \
      "$ref" >"$dir/s.yaml"
    run plan "$dir/s.yaml" --json
    expect_rc 0
    expect_json 'assert j["model"]["name"] == "my-model", j["model"]["name"]'
  done
  # An invalid plan's figures before its INVALID line say nothing that reads as an answer.
  run plan "$EXAMPLE" --global-batch 3
  expect_rc 1
  grep -qF "0 micro-batches" "$OUT" && fail "a batch the layout cannot split has no micro-batch count"
  run plan "$EXAMPLE" --seq-len 1
  expect_rc 1
  grep -qF "0-token blocks" "$OUT" && fail "no rate for blocks of no token"
}

# A measured collective table that times none of the plan's collectives says so (the example's TP 4
# with SP and DP 32 have no 8-rank all-reduce); one that does is silent.
case_collective_table_idle() {
  run plan "$EXAMPLE" --set cluster.collective_table=azure-nd-h100-v5
  expect_rc 0
  expect_stdout_has "cluster.collective_table changes nothing in this step: none of its curves (all_reduce over 8 (8 per domain))"
  run plan "$EXAMPLE" --tp 8 --cp 1 --set parallel.sp=false --recompute full --set cluster.collective_table=azure-nd-h100-v5
  expect_rc 0
  grep -qF "changes nothing in this step" "$OUT" && fail "the TP-8 all-reduces are timed by the table"
}

# A curve measured only to 1 MiB times GPT-2 XL's 3.2 GB gradient all-reduce past its largest row:
# near the whole curve's step, with a warning giving the step at the 1 MiB row's own rate (about
# 0.33 s, where it was timed until 2026-12-06) and naming that curve alone (not an all-to-all curve
# the step does not use); the whole curve, which reaches 8 GiB, is silent, and so is an 11 GB
# all-reduce past its 8 GiB row, which runs on at that row's rate (the fabric's).
case_collective_table_past_its_rows() {
  local f short
  short=$(write short.yaml "$(awk '!/^ *- \[/ || $2+0 <= 1048576' FS='[][,]' "$PREFLIGHT_DATA/collectives/azure-nd-h100-v5.yaml")
  - {op: all_to_all, ranks: 8, rows: [[1024, 10], [1048576, 50]]}")
  f=$(write gpt2-xl.yaml "model: {model_type: gpt2, n_embd: 1600, n_layer: 48, n_head: 25, n_positions: 1024, vocab_size: 50304}
hardware: h100-sxm-80gb
cluster: {devices: 8, devices_per_node: 8, collective_table: azure-nd-h100-v5}
parallel: {tp: 1, pp: 1, dp: 8, recompute: none}
training: {seq_len: 1024, global_batch: 64, micro_batch: 8, precision: bf16, flash_attention: true, tokens: 10e9}")
  run plan "$f" --json
  expect_rc 0
  cp "$OUT" "$WORK/whole.json"
  grep -qF "largest measured size" "$OUT" && fail "the whole curve reaches the step's sizes"
  run plan "$f" --set cluster.collective_table="$short" --json
  expect_rc 0
  expect_stdout_has "all_reduce over 8 (8 per domain) to 1 MiB)"
  run plan "$f" --set model.n_embd=3072 --set model.n_layer=24 --set model.n_head=24 --set parallel.zero=0 \
    --set parallel.overlap_grad_reduce=false --set training.global_batch=8 --set training.micro_batch=1
  expect_rc 0
  grep -qF "largest measured size" "$OUT" && fail "a curve measured to saturation runs on at its own rate: nothing to say"
  run plan "$f" --set cluster.collective_table="$short" --json
  python3 - "$WORK/whole.json" "$OUT" <<'PY' || fail "the short curve's step strays from the whole curve's"
import json, re, sys
whole, short = (json.load(open(p)) for p in sys.argv[1:])
a, b = whole["time"]["step_s"], short["time"]["step_s"]
assert abs(b / a - 1) < 0.05, (a, b)
w = [x for x in short["compat"]["warnings"] if "largest measured size" in x][0]
slow = float(re.search(r"largest row's own rate it would take ([0-9.e+-]+) s", w).group(1))
assert slow > 1.5 * b, (slow, b, w)
PY
}

# NVFP4 (--precision fp4): priced on a device with an FP4 rate, with its 4-bit casts named; refused
# on the H100, which has none, as bad input naming the field and the device.
case_fp4_precision() {
  run plan "$EXAMPLE" --hardware gb200-nvl72 --precision fp4
  expect_rc 0
  expect_stdout_has "NVFP4 GEMMs keep 4-bit casts"
  run plan "$EXAMPLE" --precision fp4
  expect_bad_input
  expect_one_error_line "training.precision" "h100-sxm-80gb, which has no FP4 rate"
}

# A path on the command line is the working directory's, even where a file of the same name lies
# beside the scenario; a scenario's own paths are looked up beside it first.
case_command_line_paths() {
  mkdir -p "$WORK/cwd/a"
  cp "$ROOT/data/hardware/h100-sxm-80gb.yaml" "$WORK/cwd/hw.yaml"
  sed 's/value: 989.4/value: -989.4/' "$ROOT/data/hardware/h100-sxm-80gb.yaml" >"$WORK/cwd/a/hw.yaml"
  cp "$EXAMPLE" "$WORK/cwd/a/s.yaml"
  (cd "$WORK/cwd" && "$BIN" plan a/s.yaml --hardware ./hw.yaml >"$OUT" 2>"$ERR")
  RC=$?
  expect_rc 0
  (cd "$WORK/cwd" && "$BIN" plan a/s.yaml --set hardware=hw.yaml >"$OUT" 2>"$ERR")
  RC=$?
  expect_rc 0
  # So is one inside a flow mapping the command line sets.
  cp "$PREFLIGHT_DATA/reliability/llama3-h100-16k.yaml" "$WORK/cwd/rel.yaml"
  echo "garbage: [" >"$WORK/cwd/a/rel.yaml"
  (cd "$WORK/cwd" && "$BIN" plan a/s.yaml --set 'reliability={profile: rel.yaml}' >"$OUT" 2>"$ERR")
  RC=$?
  expect_rc 0
  printf 'hardware: hw.yaml\n' >>"$WORK/cwd/a/s.yaml"
  sed -i '0,/^hardware:.*/{/^hardware:/d}' "$WORK/cwd/a/s.yaml"
  (cd "$WORK/cwd" && "$BIN" plan a/s.yaml >"$OUT" 2>"$ERR")
  RC=$?
  expect_bad_input "a/s.yaml: hardware:" "peak_tflops.bf16.value"
}

# A $PREFLIGHT_DATA that is not a data directory is named, where it read as an empty catalog.
case_data_directory() {
  PREFLIGHT_DATA="$WORK/nowhere" "$BIN" catalog list >"$OUT" 2>"$ERR"
  RC=$?
  expect_bad_input "PREFLIGHT_DATA: expected a data directory holding hardware/, models/ and reliability/" "$WORK/nowhere"
  mkdir -p "$WORK/emptydata"
  PREFLIGHT_DATA="$WORK/emptydata" "$BIN" plan "$EXAMPLE" >"$OUT" 2>"$ERR"
  RC=$?
  expect_bad_input "PREFLIGHT_DATA"
  # One without reliability/ would fail every plan on the default failure profile.
  mkdir -p "$WORK/partdata"
  cp -r "$PREFLIGHT_DATA/hardware" "$PREFLIGHT_DATA/models" "$WORK/partdata/"
  PREFLIGHT_DATA="$WORK/partdata" "$BIN" plan "$EXAMPLE" >"$OUT" 2>"$ERR"
  RC=$?
  expect_bad_input "PREFLIGHT_DATA: expected a data directory holding hardware/, models/ and reliability/"
  cp -r "$PREFLIGHT_DATA/reliability" "$WORK/partdata/"
  PREFLIGHT_DATA="$WORK/partdata" "$BIN" plan "$EXAMPLE" >"$OUT" 2>"$ERR"
  RC=$?
  expect_rc 0
  # A model file that is a link to nothing is named as one, not as an unknown id.
  ln -s "$WORK/nowhere.json" "$WORK/partdata/models/broken.json"
  PREFLIGHT_DATA="$WORK/partdata" "$BIN" catalog list >"$OUT" 2>"$ERR"
  RC=$?
  expect_bad_input "models/broken.json: cannot open file (a broken link)"
  # So does `catalog show` of it (it once said "unknown id").
  PREFLIGHT_DATA="$WORK/partdata" "$BIN" catalog show broken >"$OUT" 2>"$ERR"
  RC=$?
  expect_bad_input "models/broken.json: cannot open file (a broken link)"
}

case_missing_file() {
  run plan "$WORK/absent.yaml"
  expect_bad_input "$WORK/absent.yaml"
  run plan "$WORK/absent.yaml" --json
  expect_bad_input "$WORK/absent.yaml"
}

case_unknown_model_id() {
  run plan "$EXAMPLE" --model nope
  expect_bad_input "$EXAMPLE" "model" "nope"
}

case_unknown_hardware_id() {
  run plan "$EXAMPLE" --hardware h999-imaginary
  expect_bad_input "$EXAMPLE" "hardware" "h999-imaginary"
}

# expect_override_removes FILE KEY=VALUE WARNING: `plan FILE --set KEY=VALUE` takes under 0.9 of
# the step FILE alone gives, and no longer warns WARNING.
expect_override_removes() {
  run plan "$1" --json
  expect_rc 0
  local before
  before=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["time"]["step_s"])' <"$OUT")
  run plan "$1" --set "$2" --json
  expect_rc 0
  expect_json "assert j['time']['step_s'] < 0.9 * $before, (j['time']['step_s'], $before)
assert not any('$3' in w for w in j['compat']['warnings'])"
}

# An output layer with an odd width on a rank is named with its charge: 2.17x on the A100 (its
# catalog figure), nothing where a device has none; padded, neither the warning nor the time.
case_odd_output_width() {
  cp "$ROOT/examples/gpt2-small-a100-unpadded.yaml" "$WORK/gpt2.yaml"
  run plan "$WORK/gpt2.yaml"
  expect_rc 0
  expect_stdout_has "the output layer has 50257 columns per tensor-parallel rank, an odd number"
  expect_stdout_has "2.17x their aligned time on a100-sxm-80gb, charged"
  expect_override_removes "$WORK/gpt2.yaml" model.vocab_size=50304 "columns per tensor-parallel rank"
  run plan "$WORK/gpt2.yaml" --set hardware=h100-sxm-80gb
  expect_rc 0
  expect_stdout_has "how much slower on h100-sxm-80gb is not measured, so nothing is charged"
}

# Megatron's fused softmax refuses 6 score matrices per rank (48 heads, TP 8, one sequence): plan
# names the fallback with the step both ways; two sequences meet the constraint, and the step
# is shorter; with fused attention the setting does nothing, and plan says so.
case_softmax_fallback() {
  cp "$ROOT/examples/gpt-18b-megatron-softmax.yaml" "$WORK/gpt.yaml"
  run plan "$WORK/gpt.yaml"
  expect_rc 0
  expect_stdout_has "attention softmax unfused: Megatron's fused softmax kernel needs micro-batch x heads / TP to be a multiple of 4 (here 1 x 48 / 8 = 6)"
  expect_stdout_has "a micro-batch that is a multiple of 2 meets the batch constraint"
  expect_override_removes "$WORK/gpt.yaml" training.micro_batch=2 "attention softmax unfused"
  run plan "$WORK/gpt.yaml" --set training.flash_attention=true
  expect_rc 0
  expect_stdout_has "training.attention_softmax has no effect with flash_attention: true"
}

# A catalog whose measured GEMM table has a negative figure: plan refuses it by file and row.
case_bad_gemm_table() {
  # The key takes a path: a catalog id there is refused with what it expects.
  run plan "$EXAMPLE" --set cluster.gemm_table=h100-sxm-80gb
  expect_bad_input "cluster.gemm_table: expected the path of a GEMM table file" "got 'h100-sxm-80gb'"
  local data="$WORK/data"
  cp -r "$PREFLIGHT_DATA" "$data"
  sed -i 's/- \[4096, 4096, 4096, 780.2\]/- [4096, 4096, 4096, -780.2]/' "$data/gemm/h100-sxm-80gb.yaml"
  PREFLIGHT_DATA="$data" run plan "$EXAMPLE"
  expect_bad_input "gemm/h100-sxm-80gb.yaml" "shapes.bf16[124]" "positive"
  # `catalog show` checks a table as `plan` reads it: a proxy names another catalog device.
  local proxied
  proxied=$(write proxied.yaml "$(cat "$PREFLIGHT_DATA/gemm/h100-sxm-80gb.yaml")
proxy_of: nope")
  run catalog show "$proxied"
  expect_bad_input "$proxied" "proxy_of" "another device"
  # A rate above the device's peak names the peak, where it comes from, and the rate (to find the row).
  local fast="$WORK/fast-gemm.yaml"
  sed 's/- \[4096, 4096, 4096, 780.2\]/- [4096, 4096, 4096, 1300]/' "$PREFLIGHT_DATA/gemm/h100-sxm-80gb.yaml" >"$fast"
  run plan "$EXAMPLE" --set cluster.gemm_table="$fast"
  expect_bad_input "fast-gemm.yaml: shapes.bf16: expected TFLOP/s at most the device's known bf16 peak (989.4 in" "got a row at 1300"
}

# A measured collective table with a row that is not [bytes, microseconds]: refused by file and row.
case_bad_collective_table() {
  local table f
  table=$(write node.yaml "source: \"nccl-tests\"
collectives:
  - {op: all_reduce, ranks: 8, rows: [[1048576, 40], [4194304]]}")
  f=$(write scenario.yaml "model: llama-3.1-8b
hardware: h100-sxm-80gb
cluster: {devices: 8, devices_per_node: 8, collective_table: node.yaml}
parallel: {tp: 8}
training: {seq_len: 4096, global_batch: 64}")
  run plan "$f"
  expect_bad_input "$table" "collectives[0].rows[1]" "[bytes, microseconds]"
}

# A measured collective table: every row with its time and bus bandwidth.
case_catalog_show_collective_table() {
  run catalog show azure-nd-h100-v5 --json
  expect_rc 0
  expect_stderr_empty
  expect_json '
assert j["hardware"] == "h100-sxm-80gb", j["hardware"]
rows = j["curves"][0]["rows"]
assert len(rows) == 24 and rows[0][0] == 1024 and rows[-1][0] == 8589934592, rows
assert abs(1.75 * rows[-1][0] / (rows[-1][1] * 1e-6) / 1e9 - 478.87) < 0.01, rows[-1]'
  run catalog show azure-nd-h100-v5
  expect_rc 0
  expect_stdout_has "478.87 GB/s"
}

# A measured host profile: `catalog show` prints the file's figures, `catalog list` lists it, a plan
# that names it says so (text and JSON, with the GPU's wait for the host); a profile file of a
# scenario's own with a bad field is refused.
case_catalog_show_host_profile() {
  local data="$ROOT/data/host/megatron-deepspeed-gpt-eager-zen3.yaml"
  run catalog show megatron-deepspeed-gpt-eager-zen3 --json
  expect_rc 0
  expect_stderr_empty
  expect_json "
import re
text = open('$data').read()
def figure(key):
    return float(re.search(r'^ *' + key + r': *([0-9.]+)', text, re.M).group(1))
assert j['id'] == 'megatron-deepspeed-gpt-eager-zen3', j['id']
for key in ('forward', 'backward', 'checkpointed', 'checkpointed_forward'):
    assert abs(j['layer_us'][key] - figure(key)) < 1e-6, (key, j['layer_us'])
assert j['gpu_waits_per_layer_forward'] == figure('gpu_waits_per_layer_forward') == 2, j
assert abs(j['micro_batch_us'] - figure('micro_batch_us')) < 1e-6, j
assert j['unfused_softmax_op_us'] == 0, 'the zen3 file predates the figure'
for key in ('before_sync', 'after_sync'):
    assert abs(j['input_us'][key] - figure(key)) < 1e-6, (key, j['input_us'])"
  run catalog list --json
  expect_rc 0
  expect_json '
ids = sorted(p["id"] for p in j["host_profiles"])
assert ids == ["megatron-deepspeed-gpt-eager-h200-cpuonly", "megatron-deepspeed-gpt-eager-h200-gpuhost",
               "megatron-deepspeed-gpt-eager-h200-gpuhost-nofr",
               "megatron-deepspeed-gpt-eager-xeon", "megatron-deepspeed-gpt-eager-zen3",
               "megatron-lm-gpt-eager-h200-cpuonly", "megatron-lm-gpt-eager-h200-gpuhost",
               "megatron-lm-gpt-eager-h200-gpuhost-nofr",
               "megatron-lm-gpt-eager-xeon", "megatron-lm-gpt-eager-zen3"], ids'
  local f
  f=$(write small.yaml "model: {model_type: gpt2, n_embd: 1024, n_layer: 12, n_head: 16, n_positions: 1024, vocab_size: 50304}
hardware: a100-sxm-80gb
cluster: {devices: 8, devices_per_node: 8}
parallel: {tp: 8, pp: 1, dp: 1, recompute: full}
training: {seq_len: 1024, global_batch: 16, micro_batch: 1, precision: fp16, flash_attention: false, host_profile: megatron-deepspeed-gpt-eager-zen3}")
  run plan "$f" --json
  expect_rc 0
  expect_json '
assert j["hardware"]["host_profile"]["id"] == "megatron-deepspeed-gpt-eager-zen3", j["hardware"]
b = j["time"]["breakdown"]
assert 0 < b["host_launch"] <= b["other"], b'
  run plan "$f"
  expect_rc 0
  expect_stdout_has "host time: megatron-deepspeed-gpt-eager-zen3"
  expect_stdout_has "the profile does not time collective calls, so at this TP/EP it is a lower bound"
  expect_stdout_has "$(python3 -c "import re; print('%.0f us per layer and micro-batch' % float(re.search(r'checkpointed: *([0-9.]+)', open('$data').read()).group(1)))")"
  local profile
  profile=$(write host.yaml "id: ours
source: \"our nodes\"
layer_us: {forward: fast, backward: 1200, checkpointed: 3000}
micro_batch_us: 500")
  f=$(write scenario.yaml "model: llama-3.1-8b
hardware: h100-sxm-80gb
cluster: {devices: 8, devices_per_node: 8}
parallel: {tp: 8}
training: {seq_len: 4096, global_batch: 64, host_profile: host.yaml}")
  run plan "$f"
  expect_bad_input "$profile" "layer_us.forward" "expected a number"
  # A profile timed on a GPU host gives each collective call's host time: the plan says so.
  profile=$(write host.yaml "id: ours
source: \"our nodes\"
layer_us: {forward: 900, backward: 1200, checkpointed: 3000}
collective_call_us: 40
micro_batch_us: 500")
  run plan "$f"
  expect_rc 0
  expect_stdout_has "2100 us per layer and micro-batch (at TP 1; 40 us per collective call the plan adds)"
  run catalog show "$profile"
  expect_rc 0
  expect_stdout_has "Megatron's unfused softmax: not measured (its ops cost host_overhead_per_kernel_us each)"
  printf 'unfused_softmax_op_us: 7.5\n' >>"$profile"
  run catalog show "$profile"
  expect_rc 0
  expect_stdout_has "per op Megatron's unfused softmax adds over its fused kernel: 7.5 us"
}

# A catalog collective table measured on other hardware: refused, naming the field and both devices.
case_collective_table_other_hardware() {
  local f
  f=$(write scenario.yaml "model: llama-3.1-8b
hardware: h100-sxm-80gb
cluster: {devices: 8, devices_per_node: 8, collective_table: azure-nd-a100-v4}
parallel: {tp: 8}
training: {seq_len: 4096, global_batch: 64}")
  run plan "$f"
  expect_bad_input "$f" "cluster.collective_table" "measured on a100-sxm-80gb"
  # A what-if on other hardware drops the file's tables measured on its own device, with a warning,
  # as it drops the other settings it rules out; a table the command line names is its to answer for.
  local own
  own=$(write own.yaml "model: llama-3.1-8b
hardware: h100-sxm-80gb
cluster: {devices: 8, devices_per_node: 8, collective_table: azure-nd-h100-v5,
          gemm_table: $PREFLIGHT_DATA/gemm/h100-sxm-80gb.yaml}
parallel: {tp: 8}
training: {seq_len: 4096, global_batch: 64}")
  run plan "$own"
  expect_rc 0
  grep -qF "dropped" "$OUT" && fail "the file's own hardware keeps its tables"
  run plan "$own" --hardware h200-sxm-141gb
  expect_rc 0
  expect_stdout_has "cluster.collective_table: azure-nd-h100-v5 dropped: it needs a table measured on h200-sxm-141gb (it was measured on h100-sxm-80gb), which the command line's hardware=h200-sxm-141gb rules out"
  expect_stdout_has "cluster.gemm_table: $PREFLIGHT_DATA/gemm/h100-sxm-80gb.yaml dropped: it needs a GEMM table measured on h200-sxm-141gb"
  run plan "$own" --hardware h200-sxm-141gb --set cluster.collective_table=azure-nd-h100-v5
  expect_bad_input "cluster.collective_table" "the value given on the command line"
}

# An attention kernel the catalog has no measurement of: refused, with the kernels it has.
case_unknown_attention_kernel() {
  local f
  f=$(write scenario.yaml "model: llama-3.1-8b
hardware: h100-sxm-80gb
cluster: {devices: 8, devices_per_node: 8}
parallel: {tp: 8}
training: {seq_len: 4096, global_batch: 64, attention_kernel: fa9}")
  run plan "$f"
  expect_bad_input "$f" "training.attention_kernel" "cudnn9, fa3, fa1, fa2"
}

case_malformed_yaml() {
  local f
  f=$(write broken.yaml "name: x
model: llama-3.1-8b
hardware: h100-sxm-80gb
cluster: {devices: [8, devices_per_node: 8}
training: {seq_len: 4096, global_batch: 64}")
  run plan "$f"
  expect_bad_input "$f" "malformed YAML"
  run plan "$f" --json
  expect_bad_input "$f"
  # A file too large to parse in the memory there is: bad input naming it, not an abort (skipped
  # for a sanitizer's binary, which reserves more address space than the cap leaves).
  if ! grep -qa __asan_init "$BIN" && have_python; then
    f="$WORK/huge.yaml"
    python3 -c 'import sys; sys.stdout.write("".join("k%d: 1\n" % i for i in range(1500000)))' >"$f"
    RC=0
    (ulimit -v 600000 && exec "$BIN" plan "$f") >"$OUT" 2>"$ERR" || RC=$?
    expect_bad_input "$f: expected YAML whose parsed nodes fit in memory"
    rm -f "$f"
  fi
  # A name given empty or blank heads no report.
  f=$(write blank-name.yaml "name: \"  \"
model: llama-3.1-8b
hardware: h100-sxm-80gb
cluster: {devices: 8}
training: {seq_len: 4096, global_batch: 64}")
  run plan "$f"
  expect_bad_input "$f: name: expected a non-empty string"
  # A price unknown is `unknown: true`, as any figure's.
  f="$WORK/price.yaml"
  sed 's/^price_usd_per_device_hour: .*/price_usd_per_device_hour: {unknown: false}/' \
    "$ROOT/data/hardware/h100-sxm-80gb.yaml" >"$f"
  run plan "$EXAMPLE" --hardware "$f"
  expect_bad_input "$f: price_usd_per_device_hour.unknown: expected true"
}

case_malformed_json_model() {
  local m
  m=$(write broken.json '{"model_type": "llama", "hidden_size": 4096,, }')
  run plan "$EXAMPLE" --model "$m"
  expect_bad_input "$m" "malformed JSON"
}

case_negative_degree() {
  run plan "$EXAMPLE" --tp -1
  expect_bad_input "$EXAMPLE" "parallel.tp"
  run plan "$EXAMPLE" --set parallel.pp=0
  expect_bad_input "$EXAMPLE" "parallel.pp"
}

case_unknown_model_type_inline() {
  local f
  f=$(write inline.yaml "name: inline
model: {model_type: transformer9, hidden_size: 64, num_hidden_layers: 2}
hardware: h100-sxm-80gb
cluster: {devices: 8}
parallel: {tp: 1, dp: 8}
training: {seq_len: 4096, global_batch: 64}")
  run plan "$f"
  expect_bad_input "$f" "model_type" "transformer9"
}

case_unknown_schedule() {
  run plan "$EXAMPLE" --schedule pipedream
  expect_bad_input "$EXAMPLE" "parallel.schedule" "pipedream"
}

case_unknown_key() {
  run plan "$EXAMPLE" --set parallel.colour=red
  expect_bad_input "$EXAMPLE" "parallel.colour"
  local f
  f=$(write extra.yaml "name: extra
model: llama-3.1-8b
hardware: h100-sxm-80gb
cluster: {devices: 8}
parallel: {tp: 1, dp: 8}
training: {seq_len: 4096, global_batch: 64}
optimiser: adam")
  run plan "$f"
  expect_bad_input "$f" "optimiser"
}

case_bad_command_line() {
  run plan "$EXAMPLE" --frobnicate
  expect_rc 2
  expect_stdout_empty
  expect_one_error_line "frobnicate"
  run plan "$EXAMPLE" --set no_equals_sign
  expect_bad_input "no_equals_sign"
  # Words the verb does not take are quoted in the order given (CLI11 lists them last first).
  run search "$EXAMPLE" --tp 2 --schedule 1f1b
  expect_bad_input "expected the verb's options and files (--help lists them), got --tp 2 --schedule 1f1b"
  run plan "$EXAMPLE" "two words" third
  expect_bad_input "got 'two words' third"
  # An option whose value is missing, followed by another option: the first is named, not the
  # stray word CLI11 would leave after taking the second as its value.
  run plan "$EXAMPLE" --set --tp 4
  expect_bad_input "command line: --set: expected a value, got the option --tp"
  run search "$EXAMPLE" --devices --json
  expect_bad_input "command line: --devices: expected a value, got the option --json"
  run plan "$EXAMPLE" --tp=8 --pp 4 --json
  expect_rc 0
  run plan "$EXAMPLE" --set --tp=4
  expect_bad_input "command line: --set: expected a value, got the option --tp=4"
  run plan "$EXAMPLE" --tp= --pp 4
  expect_bad_input "command line: --tp: expected a value, got the option --pp"
  # A flag before an option, a value that starts with '-', and help asked for: left to CLI11.
  run plan "$EXAMPLE" --json --tp 8
  expect_rc 0
  run plan "$EXAMPLE" --tp -1
  expect_bad_input "tp"
  run plan "$EXAMPLE" --set --tp 4 --help
  expect_rc 0
  run plan
  expect_rc 2
  expect_stdout_empty
  # A word that is no verb, and a verb the architecture reserves, each say which.
  run bogus
  expect_bad_input "unknown verb 'bogus'" "expected one of plan, catalog, validate, search, compare"
  run check "$EXAMPLE"
  expect_bad_input "'check' is reserved"
  # No verb at all: the same form.
  run
  expect_bad_input "command line: expected a verb (one of plan, catalog, validate, search, compare"
  # A count flag's text is checked as it is read, even where a later --set replaces its field
  # unread; a switch given a value, and an empty file name, say what was expected.
  run plan "$EXAMPLE" --tp x --set parallel=auto
  expect_bad_input "command line: --tp: expected a whole number, got 'x'"
  run search "$EXAMPLE" --seq-len 4k
  expect_bad_input "command line: --seq-len: expected a whole number, got '4k'"
  run plan "$EXAMPLE" --json=/tmp/out.json
  expect_bad_input "command line: --json: expected no value (a switch; or =true, =false), got '/tmp/out.json'"
  run plan "$EXAMPLE" --json=true
  expect_rc 0
  run plan ""
  expect_bad_input "command line: scenario: expected a file path, got an empty one"
  run validate ""
  expect_bad_input "command line: files: expected a file path, got an empty one"
  run --version
  expect_rc 0
  expect_stdout_has "preflight "
  expect_stderr_empty
}

# Degrees that do not multiply to the device count: a valid input with an invalid plan.
case_invalid_plan() {
  run plan "$EXAMPLE" --tp 3
  expect_rc 1
  expect_stderr_empty
  expect_stdout_has "INVALID"
  expect_stdout_has "1024 devices"
  run plan "$EXAMPLE" --tp 3 --json
  expect_rc 1
  expect_stderr_empty
  expect_json '
assert j["memory"] is None
assert len(j["compat"]["blocking"]) == 1 and "1024 devices" in j["compat"]["blocking"][0], j["compat"]
assert j["plan"]["valid"] is False'
  # TP 3 on a matching device count: the heads rule.
  run plan "$EXAMPLE" --tp 3 --dp 32 --devices 768
  expect_rc 1
  expect_stdout_has "INVALID"
  expect_stdout_has "64 attention heads"
}

case_does_not_fit() {
  run plan "$EXAMPLE" --model llama-3.1-405b --devices 8 --tp 8 --pp 1 --vpp 1 --cp 1 --schedule 1f1b
  expect_rc 1
  expect_stderr_empty
  expect_stdout_has "DOES NOT FIT"
  run plan "$EXAMPLE" --model llama-3.1-405b --devices 8 --tp 8 --pp 1 --vpp 1 --cp 1 --schedule 1f1b --json
  expect_rc 1
  expect_stderr_empty
  expect_json 'assert j["memory"]["fits"] is False and j["memory"]["per_device_bytes"] > j["memory"]["capacity_bytes"]'
  # It says by how much, and what the plain remedies give.
  run plan "$EXAMPLE" --seq-len 32768
  expect_rc 1
  expect_stdout_has "does not fit: 48.1 GiB over on stage 0; with parallel.recompute: full 34.0 GiB (fits); with parallel.recompute_method: block, recompute_num_layers: 3 57.8 GiB (fits); a search (parallel: auto) finds"
  # By block, as it says, it fits; one layer a chunk fewer does not, and the text names each.
  run plan "$EXAMPLE" --seq-len 32768 --set parallel.recompute=full --set parallel.recompute_method=block --set parallel.recompute_num_layers=3
  expect_rc 0
  expect_stdout_has "recompute full(block 3)"
  run plan "$EXAMPLE" --seq-len 32768 --set parallel.recompute=full --set parallel.recompute_method=block --set parallel.recompute_num_layers=2
  expect_rc 1
  expect_stdout_has "with parallel.recompute: full 34.0 GiB (fits); with parallel.recompute_method: block, recompute_num_layers: 3 57.8 GiB (fits)"
  run plan "$EXAMPLE" --seq-len 32768 --set parallel.recompute=full --set parallel.recompute_method=block --set parallel.recompute_num_layers=2 --json
  expect_rc 1
  expect_json 'assert j["plan"]["recompute_method"] == "block" and j["plan"]["recompute_num_layers"] == 2 and not j["memory"]["fits"]'
  run plan "$EXAMPLE" --set parallel.recompute_num_layers=2
  expect_rc 2
  expect_stderr_has "parallel.recompute_num_layers: expected recompute: full beside it"
}

case_search_json() {
  run search "$EXAMPLE" --top 3 --json --threads 2
  expect_rc 0
  expect_stderr_empty
  expect_json 'assert j["evaluated"] == j["valid"] + sum(j["rejected"].values()) and len(j["plans"]) == 3
assert all(p["memory"]["fits"] for p in j["plans"])
assert j["plans"][0]["time"]["step_s"] <= j["plans"][1]["time"]["step_s"] <= j["plans"][2]["time"]["step_s"]
assert not any(p["possibly_host_bound"] for p in j["plans"])'
  # --distinct: one plan per layout (TP, CP, PP, DP, EP, ETP, schedule, ZeRO), best first.
  run search "$EXAMPLE" --top 4 --json --threads 2 --distinct
  expect_rc 0
  expect_json 'layouts = [tuple(p["plan"][k] for k in ("tp", "cp", "pp", "dp", "ep", "etp", "schedule", "zero")) for p in j["plans"]]
assert len(j["plans"]) == 4 and len(set(layouts)) == 4, layouts
assert [p["objective"] for p in j["plans"]] == sorted(p["objective"] for p in j["plans"])'
  # A small GPT forced onto TP 8 with micro-batch 1 has short kernels: the flag and the warning.
  local small
  small=$(write small.yaml "model: {model_type: gpt2, n_embd: 1024, n_layer: 24, n_head: 16, n_positions: 1024, vocab_size: 50304}
hardware: a100-sxm-80gb
cluster: {devices: 8, devices_per_node: 8}
training: {seq_len: 1024, global_batch: 16, precision: fp16, flash_attention: false}")
  run search "$small" --top 1 --fix-tp 8 --max-micro-batch 1 --threads 2
  expect_rc 0
  expect_stdout_has "possibly host-bound"
  run search "$small" --top 1 --fix-tp 8 --max-micro-batch 1 --threads 2 --json
  expect_json 'assert j["plans"][0]["possibly_host_bound"]'
  # A scenario's uneven first and last stages are not searched: the plans say 0, the text says so,
  # and `plan` with both set to 0 gives the searched step.
  local uneven
  uneven=$(write uneven.yaml "$(cat "$small")
parallel: {tp: 1, pp: 2, dp: 4, first_stage_layers: 11, last_stage_layers: 13}")
  run search "$uneven" --top 1 --fix-pp 2 --threads 2
  expect_rc 0
  expect_stdout_has "leaves the scenario's first_stage_layers"
  run search "$uneven" --top 1 --fix-pp 2 --threads 2 --json
  expect_rc 0
  cp "$OUT" "$WORK/uneven_search.json"
  local flags
  flags=$(python3 -c '
import json, sys
p = json.load(open(sys.argv[1]))["plans"][0]["plan"]
assert p["first_stage_layers"] == 0 and p["last_stage_layers"] == 0, p
print(" ".join(["--tp", str(p["tp"]), "--pp", str(p["pp"]), "--vpp", str(p["vpp"]), "--dp", str(p["dp"]),
                "--schedule", p["schedule"], "--recompute", p["recompute"], "--micro-batch", str(p["micro_batch"]),
                "--zero", str(p["zero"]), "--set", "parallel.sp=" + str(p["sp"]).lower(),
                "--set", "parallel.layer_split=" + p["layer_split"]]))' "$WORK/uneven_search.json")
  # shellcheck disable=SC2086
  run plan "$uneven" --json $flags --set parallel.first_stage_layers=0 --set parallel.last_stage_layers=0
  expect_rc 0
  expect_json 'import json
s = json.load(open("'"$WORK"'/uneven_search.json"))["plans"][0]["time"]["step_s"]
assert abs(j["time"]["step_s"] - s) <= 1e-9 * s, (j["time"]["step_s"], s)
assert j["plan"]["first_stage_layers"] == 0'
}

case_search_sweep() {
  run search "$EXAMPLE" --devices 256..1024 --objective cost --json
  expect_rc 0
  expect_json 'assert [p["devices"] for p in j["sweep"]] == [256, 512, 1024] and any(p["on_pareto_front"] for p in j["sweep"])'
  # Each point names the devices its plan holds and, with the default failure record, the P50 days,
  # the device-hours held through them and their cost, as its own campaign (plan --json) gives them;
  # the front is drawn on those (GB200 NVL72: the fastest 1,152-GPU plan holds 1,296).
  run search "$EXAMPLE" --hardware gb200-nvl72 --model llama-3.1-405b --devices 576,1152 --json --top 1
  expect_rc 0
  expect_json '
assert j["pareto_basis"] == "p50_held", j["pareto_basis"]
pts = j["sweep"]
assert [p["devices_held"] for p in pts] == [648, 1296], [p["devices_held"] for p in pts]
for p in pts:
    c = p["campaign"]
    assert p["devices_held"] == c["devices_held"]
    assert p["days_p50"] == c["days_p50"]
    assert abs(p["device_hours_held_p50"] - c["device_hours_p50"]) <= 1e-9 * c["device_hours_p50"]
    mid = (c["cost_usd_p50"]["low"] + c["cost_usd_p50"]["high"]) / 2
    assert abs(p["cost_usd_mid_p50"] - mid) <= 1e-9 * mid
    front = not any(q["days_p50"] <= p["days_p50"] and q["device_hours_held_p50"] <= p["device_hours_held_p50"] and
                    (q["days_p50"] < p["days_p50"] or q["device_hours_held_p50"] < p["device_hours_held_p50"])
                    for q in pts)
    assert p["on_pareto_front"] == front, (p["devices"], p["on_pareto_front"])'
  run search "$EXAMPLE" --hardware gb200-nvl72 --model llama-3.1-405b --devices 576,1152 --top 1
  expect_rc 0
  expect_stdout_has "P50 held dev-h"
  expect_stdout_has "pareto (*): P50 days against P50 device-hours held"
  # Cost bills the devices a plan holds, and the text says which plans hold more than they use
  # (TP 2 x CP 8 tiles take 64 of each 72-GPU rack).
  run search "$EXAMPLE" --hardware gb200-nvl72 --model llama-3.1-405b --devices 1152 --fix-tp 2 --fix-cp 8 --objective cost --top 1
  expect_rc 0
  expect_stdout_has "of 1152 devices, #1 holds 1296"
  run search "$EXAMPLE" --devices 5..x
  expect_rc 2
  expect_stderr_has "--devices"
  # A flag's own bad value reads "command line: --FLAG: expected ..., got ...", whichever flag.
  for bad in "--top 0" "--objective foo" "--threads -3" "--max-tp -1"; do
    # shellcheck disable=SC2086
    run search "$EXAMPLE" $bad
    expect_rc 2
    expect_stderr_has "preflight: command line: ${bad%% *}: expected"
    expect_stderr_has "got"
  done
  # A command line of the wrong shape says so in the same form (CLI11's own words rewritten).
  run search "$EXAMPLE" --top 3 --top 4
  expect_bad_input "command line: --top: expected at most 1 value, got 2"
  run search "$EXAMPLE" --top
  expect_bad_input "command line: --top: expected 1 INT value, got none"
  run search "$EXAMPLE" --bogus
  expect_bad_input "got --bogus"
  run catalog
  expect_bad_input "command line: action: expected a value, got none"
  # A sweep longer than 4096 counts, or past 2^24 devices, is refused rather than cut short.
  run search "$EXAMPLE" --devices 1..5000:1
  expect_bad_input "--devices"
  run search "$EXAMPLE" --devices 1..1099511627776
  expect_bad_input "--devices"
}

# Search flags outside their range are bad input, not a silent default (NaN headroom once let
# every plan "fit").
# Without a catalog price (A100) the sweep says so (cost null) and draws the front on device-hours;
# the ranking's unit is named.
case_search_sweep_without_price() {
  local scen="$ROOT/examples/gpt3-175b-a100.yaml"
  # Without a failure record (reliability: none) the front is drawn on the ideal figures.
  run search "$scen" --devices 64..512 --objective cost --json --top 1 --set reliability=none
  expect_rc 0
  expect_json '
assert j["objective_unit"] == "device_hours", j["objective_unit"]
assert j["pareto_basis"] == "ideal", j["pareto_basis"]
pts = [p for p in j["sweep"] if p["found"]]
assert len(pts) == 4 and all(p["cost_usd_mid"] is None for p in pts)
assert all(p["days_p50"] is None and p["device_hours_held_p50"] is None and p["cost_usd_mid_p50"] is None for p in pts)
assert all(p["devices_held"] == p["devices"] for p in pts)
for p in pts:
    front = not any(q["days"] <= p["days"] and q["device_hours"] <= p["device_hours"] and
                    (q["days"] < p["days"] or q["device_hours"] < p["device_hours"]) for q in pts)
    assert p["on_pareto_front"] == front, (p["devices"], p["on_pareto_front"])
assert all(p["on_pareto_front"] for p in pts)  # more devices: fewer days, more device-hours'
  run search "$scen" --devices 64..128 --objective cost --top 1 --set reliability=none
  expect_stdout_has "pareto (*): ideal days against ideal device-hours held"
  # With one, the P50 device-hours are known and their cost is not.
  run search "$scen" --devices 64..128 --objective cost --json --top 1
  expect_json '
assert j["pareto_basis"] == "p50_held"
assert all(p["device_hours_held_p50"] > 0 and p["cost_usd_mid_p50"] is None for p in j["sweep"])'
  run search "$scen" --objective cost --top 1
  expect_rc 0
  expect_stdout_has "cost (device_hours)"
  expect_stdout_has "no price for a100-sxm-80gb"
  run search "$EXAMPLE" --objective cost --top 1 --json
  expect_json 'assert j["objective_unit"] == "usd"'
}

case_search_bad_flags() {
  local flag
  # The search enumerates none, selective and full only: another mode fixed would find nothing.
  for flag in "--min-headroom nan" "--threads -3" "--threads 2000000000" "--max-tp -1" "--fix-tp 0" "--fix-zero 4" \
              "--fix-recompute dots" "--fix-recompute selective-op" "--fix-recompute names"; do
    # shellcheck disable=SC2086
    run search "$EXAMPLE" --top 1 $flag
    expect_bad_input "${flag%% *}"
  done
  # Numbers the flag library would convert (or skip, when empty) are checked first, with the
  # expected value named.
  for flag in "--top abc" "--threads 1.5" "--max-micro-batch 1e3" "--top 99999999999"; do
    # shellcheck disable=SC2086
    run search "$EXAMPLE" --top 1 $flag
    expect_bad_input "${flag%% *}: expected a whole number"
  done
  for flag in --fix-tp --fix-pp --fix-zero --max-tp --threads; do
    run search "$EXAMPLE" --top 1 "$flag" ""
    expect_bad_input "$flag: expected a whole number, got ''"
  done
  for flag in "--top ++2" "--top 2-" "--top +-2"; do
    # shellcheck disable=SC2086
    run search "$EXAMPLE" $flag
    expect_rc 2
  done
  # A sign is part of a whole number, as the scenario's counts take it (--tp +8).
  run search "$EXAMPLE" --top +2 --threads +1
  expect_rc 0
  # Leading zeros are decimal, as the scenario's counts read them (the flag library took 010 for
  # octal 8, and 08 for no number).
  run search "$EXAMPLE" --top 010 --json
  expect_rc 0
  expect_json "assert len(j['plans']) == 10, len(j['plans'])"
  run search "$EXAMPLE" --top 08 --json
  expect_rc 0
  expect_json "assert len(j['plans']) == 8, len(j['plans'])"
  run search "$EXAMPLE" --top 1 --min-headroom abc
  expect_bad_input "--min-headroom: expected a number"
  # A stack with DeepSpeed's 16-bit gradient copy runs ZeRO 0 or 1 only.
  run search "$EXAMPLE" --top 1 --fix-zero 2 --set training.grad_16bit_copy=true
  expect_bad_input "--fix-zero" "grad_16bit_copy"
}

# compare: one job on several devices, ranked; each alternative with plan --json's keys.
case_compare() {
  run compare "$EXAMPLE" --hardware h100-sxm-80gb,h200-sxm-141gb,mi300x
  expect_rc 0
  expect_stderr_empty
  expect_stdout_has "3 alternatives, ranked by days to train"
  expect_stdout_has "mi300x: 1024 x mi300x, tp 4 pp 4 vpp 5 dp 32 cp 2 zero 1 interleaved"
  expect_stdout_has "(given)"
  run compare "$EXAMPLE" --hardware h100-sxm-80gb,h200-sxm-141gb,mi300x --json
  expect_rc 0
  expect_stderr_empty
  expect_json '
alts = j["alternatives"]
assert j["objective"] == "days" and j["unit"] == "days", j["objective"]
assert sorted(a["label"] for a in alts) == ["h100-sxm-80gb", "h200-sxm-141gb", "mi300x"]
assert j["ranking"] == [a["label"] for a in alts]
assert [a["rank"] for a in alts] == [1, 2, 3]
days = [a["objective"]["value"] for a in alts]
assert days == sorted(days) and days[0] > 0, days
assert all(abs(a["objective"]["value"] - a["campaign"]["days_ideal"]) < 1e-9 * a["objective"]["value"] for a in alts)
assert alts[0]["factor_of_best"] == 1 and all(a["factor_of_best"] >= 1 for a in alts)
for a in alts:
    for k in ("model", "hardware", "plan", "memory", "time", "campaign", "compat", "accuracy"):
        assert k in a, k
    assert a["fits"] and not a["searched"] and a["hardware"]["name"] == a["label"]
'
  # Searched layouts, ranked by cost: a device without a price ranks after those with one.
  run compare "$EXAMPLE" --hardware ascend-910c,h100-sxm-80gb --search --objective cost --threads 1 --json
  expect_rc 0
  expect_json '
alts = j["alternatives"]
assert [a["label"] for a in alts] == ["h100-sxm-80gb", "ascend-910c"], [a["label"] for a in alts]
assert alts[0]["objective"]["unit"] == "usd" and alts[1]["objective"]["unit"] == "device_hours"
assert alts[1]["factor_of_best"] is None and all(a["searched"] for a in alts)
assert all(a["plan"]["searched"] for a in alts)
'
  # Several files: each is an alternative, named by its scenario.
  local small
  small=$(write small.yaml "name: seventy-on-512
model: llama-3.1-70b
hardware: h100-sxm-80gb
cluster: {devices: 512}
training: {seq_len: 8192, global_batch_tokens: 16777216, precision: bf16, tokens: 15.0e12}")
  run compare "$EXAMPLE" "$small" --json
  expect_rc 0
  expect_json '
labels = sorted(a["label"] for a in j["alternatives"])
assert labels == ["llama3.1-70b-1024xh100", "seventy-on-512"], labels
s = [a for a in j["alternatives"] if a["label"] == "seventy-on-512"][0]
assert s["searched"] and s["hardware"]["devices"] == 512
'
  # None fits: exit 1, each said. The given layout needs 32 devices; no layout holds 70B on 4 of either.
  run compare "$EXAMPLE" --hardware h100-sxm-80gb,mi300x --devices 8
  expect_rc 1
  expect_stdout_has "invalid plan: tp*cp*pp*dp = 4*2*4*1 = 32"
  expect_stdout_has "(--search looks for a valid layout)"
  run compare "$EXAMPLE" --hardware h100-sxm-80gb,mi300x --devices 4 --search --json
  expect_rc 1
  expect_json '
assert all(not a["fits"] and a["plan"] is None and a["objective"] is None for a in j["alternatives"])
assert all("no valid plan fits" in a["compat"]["blocking"][0] for a in j["alternatives"])
'
}

case_compare_bad_input() {
  run compare "$EXAMPLE"
  expect_bad_input "expected two or more alternatives"
  run compare "$EXAMPLE" --hardware h100-sxm-80gb
  expect_bad_input "expected two or more alternatives"
  run compare "$EXAMPLE" --hardware h100-sxm-80gb,,mi300x
  expect_bad_input "--hardware: expected catalog hardware ids"
  run compare "$EXAMPLE" --hardware mi300x,mi300x
  expect_bad_input "--hardware: expected each hardware once, got 'mi300x' twice"
  run compare "$EXAMPLE" --hardware h100-sxm-80gb,no-such-gpu
  expect_bad_input "hardware" "no-such-gpu"
  run compare "$EXAMPLE" --hardware h100-sxm-80gb,mi300x --objective speed
  expect_bad_input "--objective: expected days, cost, energy or step_time, got 'speed'"
  run compare "$EXAMPLE" --hardware h100-sxm-80gb,mi300x --threads 99999
  expect_bad_input "--threads: expected 0 (every core) to"
  run compare "$EXAMPLE" --hardware h100-sxm-80gb,mi300x --tp 4
  expect_bad_input "--tp"
  run compare "$EXAMPLE" "$WORK/missing.yaml"
  expect_bad_input "missing.yaml"
  run compare "$EXAMPLE" "$EXAMPLE"
  expect_bad_input "scenarios: expected each file once"
}

case_search_nothing_fits() {
  run search "$EXAMPLE" --devices 1
  expect_rc 1
  expect_stdout_has "no valid plan fits"
}

# The example's fastest plans fill the H100s to within 1% of their memory, which the search says;
# with a 10% margin asked for, its plans keep it and the note goes.
case_search_headroom_note() {
  run search "$EXAMPLE" --top 3
  expect_rc 0
  expect_stdout_has "of device memory free; the memory estimate ran low"
  run search "$EXAMPLE" --top 3 --min-headroom 0.1
  expect_rc 0
  if grep -q "of device memory free" "$OUT"; then fail "the headroom note with --min-headroom 0.1"; fi
}

# run_mpi2 ARGS...: the binary under 2 MPI ranks, like `run`. OpenMPI's own start-up allocations are
# never freed; LeakSanitizer (debug-asan preset) would report them as ours, so leak detection is off
# for the MPI processes only.
run_mpi2() {
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_plm_rsh_agent=false \
    mpirun -x ASAN_OPTIONS --oversubscribe -n 2 "$BIN" "$@" >"$OUT" 2>"$ERR"
  RC=$?
}

# The distributed search gives exactly the single-process answer (2 MPI ranks).
case_search_mpi() {
  if ! command -v mpirun >/dev/null; then
    echo "mpirun not found" >&2
    failures=$((failures + 1))
    return
  fi
  local scen="$ROOT/examples/deepseek-v3-h800.yaml"
  run search "$scen" --top 10 --json --threads 1
  expect_rc 0
  cp "$OUT" "$WORK/single.json"
  run_mpi2 search "$scen" --top 10 --json --threads 1
  expect_rc 0
  cp "$OUT" "$WORK/mpi.json"
  if ! python3 - "$WORK/single.json" "$WORK/mpi.json" <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
assert a["evaluated"] == b["evaluated"] and a["valid"] == b["valid"] and a["rejected"] == b["rejected"], "counts differ"
pa = [(p["plan"], p["objective"]) for p in a["plans"]]
pb = [(p["plan"], p["objective"]) for p in b["plans"]]
assert pa == pb, "top plans differ"
EOF
  then
    fail "2 MPI ranks and 1 process disagree"
  fi
  # A sweep and a plan under mpirun print once (rank 0), and the sweep's answer is the same.
  run search "$EXAMPLE" --devices 256..512 --json --threads 1
  cp "$OUT" "$WORK/sweep1.json"
  run_mpi2 search "$EXAMPLE" --devices 256..512 --json --threads 1
  expect_rc 0
  cmp -s "$OUT" "$WORK/sweep1.json" || fail "the sweep under 2 MPI ranks differs from one process's (or printed twice)"
  run_mpi2 plan "$EXAMPLE" --json
  expect_rc 0
  expect_json 'pass'
  # Bad input: every rank refuses it, and rank 0 alone says so (mpirun adds lines of its own).
  local bad
  bad=$(write mpi_bad.yaml "$(printf 'name: x\nbogus: 1')")
  run_mpi2 search "$bad"
  expect_rc 2
  [[ $(grep -c '^preflight: ' "$ERR") == 1 ]] || fail "under 2 MPI ranks the error was not said exactly once"
  expect_stderr_has "bogus: unknown field"
}

case_validate_json() {
  run validate "$ROOT/data/validation/korthikanti-2022.yaml" --json
  expect_rc 0
  expect_json 'assert len(j["runs"]) == 10 and all(r["status"] == "ok" for r in j["runs"]) and 0 <= j["mape"] < 1'
  # Grouped summaries: every run is on the A100, so the hardware group is the whole file.
  expect_json 'h = j["by_hardware"]["a100-sxm-80gb"]; assert all(r["hardware"] == "a100-sxm-80gb" for r in j["runs"]) and h["runs"] == 10 and abs(h["mape"] - j["mape"]) < 1e-12 and len(j["by_file"]) == 1'
  # The bias is the signed mean of the errors, at every level.
  expect_json 'ok = [r["error"] for r in j["runs"]]; assert abs(j["mean_error"] - sum(ok) / len(ok)) < 1e-12 and abs(j["by_hardware"]["a100-sxm-80gb"]["mean_error"] - j["mean_error"]) < 1e-12 and -j["mape"] <= j["mean_error"] <= j["mape"]'
  # Step-time rows: their time error is their error, and the time bias the bias.
  expect_json 'assert all(r["time_error"] == r["error"] for r in j["runs"]) and abs(j["time_bias"] - j["mean_error"]) < 1e-12 and abs(j["by_file"][next(iter(j["by_file"]))]["time_bias"] - j["time_bias"]) < 1e-12'
  # Each run carries its predicted step and where the time goes (here the metric is the step itself).
  expect_json 'assert all(abs(r["step_s"] - r["predicted"]) < 1e-9 * r["predicted"] and r["breakdown"]["compute"] > 0 and set(r["breakdown"]) >= {"compute", "exposed_comm", "bubble", "optimizer", "other", "exposed_comm_by_kind"} for r in j["runs"])'
  # Large models: none of these kernels is short enough for the host-bound warning.
  expect_json 'assert not any(r["possibly_host_bound"] for r in j["runs"]) and j["by_host_bound_warning"]["not flagged"]["runs"] == 10'
  # These runs ran, and their plans are predicted to fit: no run is listed as a memory-model miss.
  expect_json 'assert j["ran_but_predicted_oom"] == [] and all(r["predicted_fits"] and r["memory_headroom"] > 0 for r in j["runs"]) and j["by_file"][next(iter(j["by_file"]))]["ran_but_predicted_oom"] == 0'
  # The A100's figures are its own: no prediction rests on another device's measurement.
  expect_json 'assert all(r["proxy_figures"] == 0 for r in j["runs"]) and j["by_proxy_figures"]["device'"'"'s own figures"]["runs"] == 10'
  # The H800 borrows the H100's and H200's measurements: plan lists them and says so.
  run validate "$ROOT/data/validation/korthikanti-2022.yaml" --json --set hardware=h800-sxm-80gb
  expect_rc 0
  expect_json 'assert all(r["proxy_figures"] > 0 for r in j["runs"]) and j["by_proxy_figures"]["rests on proxy figures"]["runs"] == 10'
  run plan "$EXAMPLE" --json --set hardware=h800-sxm-80gb
  expect_json 'p = j["time"]["proxy_figures"]; assert {"figure": "efficiency.sustained_fraction.bf16", "measured_on": "h200-sxm-141gb"} in p and all(set(x) == {"figure", "measured_on"} for x in p) and any("measured on another device" in w for w in j["compat"]["warnings"])'
  run validate "$ROOT/data/validation/korthikanti-2022.yaml"
  expect_rc 0
  expect_stdout_has "a100-sxm-80gb"
  expect_stdout_has "figures measured on another device"
  run validate "$ROOT/data/validation/nope.yaml"
  expect_rc 2
  # What-if over a whole file: --set changes every run.
  run validate "$ROOT/data/validation/korthikanti-2022.yaml" --json --set cluster.collective_table=azure-nd-a100-v4
  expect_rc 0
  expect_json 'assert len(j["runs"]) == 10 and all(r["status"] == "ok" for r in j["runs"])'
  run validate "$ROOT/data/validation/korthikanti-2022.yaml" --set cluster.collective_table=azure-nd-h100-v5
  expect_bad_input "$ROOT/data/validation/korthikanti-2022.yaml" "[0].cluster.collective_table" "measured on h100-sxm-80gb"
}

# A validation file of one measured run without a layout for which the search finds no plan that
# fits (Llama 3.1 405B on 8 H100s).
write_unplannable_run() {
  cat >"$1" <<'YAML'
- name: too-big
  model: llama-3.1-405b
  hardware: h100-sxm-80gb
  cluster: {devices: 8, devices_per_node: 8}
  parallel: auto
  training: {seq_len: 8192, global_batch: 16, precision: bf16}
  measured: {step_time_s: 5}
YAML
}

# --by groups the rows by fields of their run: one more table per spec, and "by" in --json, each
# group summarised as the file and hardware groups are; an unknown field is bad input.
case_validate_by() {
  local file="$ROOT/data/validation/korthikanti-2022.yaml"
  run validate "$file" --json --by vpp --by recompute,sp
  expect_rc 0
  # Korthikanti's rows: four at VPP 1, six at VPP 3 (the interleaved 175B and 530B runs).
  expect_json 'v = j["by"]["vpp"]; assert list(v) == ["vpp 1", "vpp 3"] and v["vpp 1"]["runs"] == 4 and v["vpp 3"]["runs"] == 6'
  # Every row is in exactly one group, and a group'"'"'s figures are those of its rows.
  expect_json 'g = j["by"]["recompute,sp"]; assert sum(x["runs"] for x in g.values()) == len(j["runs"]) == 10 and set(g) == {"recompute full, sp 0", "recompute selective, sp 1"}'
  expect_json 'full = [abs(r["error"]) for r in j["runs"] if r["name"].endswith("-full")]; g = j["by"]["recompute,sp"]["recompute full, sp 0"]; assert g["runs"] == len(full) and abs(g["mape"] - sum(full) / len(full)) < 1e-12 and abs(g["max_abs_error"] - max(full)) < 1e-12'
  # JSON objects keep no order: each group says its place in the text table, numbers by value.
  run validate "$ROOT/data/validation/megatron-2021.yaml" --json --by devices
  expect_json 'g = j["by"]["devices"]; names = sorted(g, key=lambda k: g[k]["order"]); assert names[:3] == ["devices 32", "devices 64", "devices 128"] and [g[k]["order"] for k in names] == list(range(len(g))), names'
  # The model's shape: Korthikanti's four models by hidden size (6144 22B, 12288 175B, 20480 530B,
  # 25600 1T), and 22B's 48 layers among them.
  run validate "$file" --json --by hidden --by layers
  expect_rc 0
  expect_json 'g = j["by"]["hidden"]; names = sorted(g, key=lambda k: g[k]["order"]); assert names == ["hidden 6144", "hidden 12288", "hidden 20480", "hidden 25600"], names'
  expect_json 'assert "layers 48" in j["by"]["layers"], list(j["by"]["layers"])'
  # Without --by, "by" is there and empty.
  run validate "$file" --json
  expect_json 'assert j["by"] == {}'
  # An unknown field, or one given twice, is the command line's bad input, as any flag's.
  run validate "$file" --by nonsense
  expect_bad_input "command line: --by: expected fields among" "got 'nonsense'"
  run validate "$file" --by tp,tp
  expect_bad_input "command line: --by: expected each field once" 
  run validate "$file" --by tp,micro_batch
  expect_rc 0
  grep -qE '^tp, micro_batch +rows +MAPE' "$OUT" || fail "a table titled by its fields"
  grep -qE '^tp 8, micro_batch 1 +[0-9]+ ' "$OUT" || fail "a group per value, labelled field by field"
  # The table lists numbers by value, whatever order the runs come in: the file's micro-batches
  # start 8, 4, 8, and as text "16" < "2". (JSON objects have no order; --json sorts its keys.)
  run validate "$ROOT/data/validation/vtrain-multi.yaml" --by micro_batch
  expect_rc 0
  local order
  order=$(grep -E '^micro_batch [0-9]+ ' "$OUT" | awk '{print $2}' | tr '\n' ' ')
  [[ "$order" == "$(tr ' ' '\n' <<<"$order" | grep . | sort -n | tr '\n' ' ')" && "$order" == *" 16 "* ]] ||
    fail "micro-batch groups in numeric order, 16 among them: got '$order'"
  # A whole layout sorts by its degrees (TP first), not as text ("tp8" after "tp16").
  run validate "$ROOT/data/validation/vtrain-multi.yaml" --by layout
  order=$(grep -E '^layout tp[0-9]+ cp' "$OUT" | awk '{print substr($2, 3)}' | tr '\n' ' ')
  [[ -n "$order" && "$order" == "$(tr ' ' '\n' <<<"$order" | grep . | sort -n | tr '\n' ' ')" ]] ||
    fail "layouts in the order of their TP: got '$order'"
  # The name column is as wide as the longest label: every line's MAPE ends in the same column.
  awk '/^layout( tp[0-9]+ cp| +rows)/ {print index($0, "%") ? index($0, "%") : index($0, "MAPE") + 3}' "$OUT" |
    sort -u | wc -l | grep -qx 1 || fail "layout rows aligned with their header"
  # So is the file table's, and its "all" line with it.
  awk '/^(file +rows|all +[0-9])/ {print index($0, "MAPE") ? index($0, "MAPE") + 3 : index($0, "%")}' "$OUT" |
    sort -u | wc -l | grep -qx 1 || fail "the all line aligned with the file table"
  # A run the search gave no layout groups as "auto", after every number, and is not predicted.
  write_unplannable_run "$WORK/by-auto.yaml"
  run validate "$file" "$WORK/by-auto.yaml" --by tp --json
  expect_rc 0
  expect_json 'g = j["by"]["tp"]["tp auto"]; assert g["runs"] == 0 and g["skipped"] == 1 and g["mape"] is None'
  run validate "$file" "$WORK/by-auto.yaml" --by tp
  grep -E '^tp ' "$OUT" | tail -1 | grep -qE '^tp auto +0 ' || fail "the auto group last, with no run predicted"
  # host_share bins each predicted row by the share of its step the GPU waits for the host; a row not
  # predicted has none. Korthikanti's large layers keep the GPU busy; vTrain's small ones do not.
  run validate "$file" "$WORK/by-auto.yaml" --by host_share --json
  expect_json 'g = j["by"]["host_share"]; assert g["host_share under 2%"]["runs"] == 10 and g["host_share not predicted"]["skipped"] == 1 and len(g) == 2, g'
  run validate "$ROOT/data/validation/vtrain-single.yaml" --by host_share --json
  expect_json 'r = j["runs"]; g = j["by"]["host_share"]; b = lambda x: x["breakdown"]["host_launch"] / x["step_s"]; assert g["host_share 60% and over"]["runs"] == sum(b(x) >= 0.6 for x in r) > 0 and g["host_share under 2%"]["runs"] == sum(b(x) < 0.02 for x in r) > 0 and sum(v["runs"] for v in g.values()) == len(r)'
  # --by takes one value: the words after it are files, and options still follow.
  run validate --by tp "$file" --json
  expect_rc 0
  expect_json 'assert len(j["runs"]) == 10 and "tp" in j["by"]'
  run validate "$file" --by tp "$ROOT/data/validation/megatron-2021.yaml" --json
  expect_rc 0
  expect_json 'assert len(j["runs"]) == 32'
  # A spec given twice is one table; a field twice in one spec is bad input.
  run validate "$file" --by vpp --by vpp
  expect_rc 0
  [[ $(grep -cE '^vpp +rows' "$OUT") == 1 ]] || fail "one table for a spec given twice"
  run validate "$file" --by tp,vpp,tp
  expect_bad_input "--by" "each field once" "'tp'"
  run validate "$file" --by tp,nodes
  expect_bad_input "--by" "tp, cp, pp" "got 'nodes'"
  run validate "$file" --by ""
  expect_bad_input "--by" "got ''"
}

# Runs that cannot be predicted are listed with their reason; when none could be, there is no
# figure to give: no 0% MAPE, null in --json, and exit 1 (nothing feasible), as plan and search.
case_validate_nothing_predicted() {
  write_unplannable_run "$WORK/auto.yaml"
  run validate "$WORK/auto.yaml" --json
  expect_rc 1
  expect_json 'assert j["predicted"] == 0 and j["mape"] is None and j["mean_error"] is None and j["max_abs_error"] is None and j["worst"] is None'
  expect_json 'f = next(iter(j["by_file"].values())); assert f["mape"] is None and f["runs"] == 0 and f["skipped"] == 1'
  expect_json 'assert j["runs"][0]["status"] == "the search found no valid plan that fits (parallel: auto)"'
  run validate "$WORK/auto.yaml"
  expect_rc 1
  grep -qE '^all +0 +- +- +- ' "$OUT" || fail "the all line should show dashes, not 0.0%"
  grep -qF "0.0%" "$OUT" && fail "no MAPE of 0.0% over nothing"
  # Beside eleven predicted runs (more than the ten worst rows shown), the run not predicted is
  # still listed with its reason, and grouped apart from the predicted ones.
  run validate "$ROOT/data/validation/korthikanti-2022.yaml" "$ROOT/data/validation/megatron-2021.yaml" "$WORK/auto.yaml"
  expect_rc 0
  expect_stdout_has "the search found no valid plan that fits (parallel: auto)"
  grep -qE '^not predicted +0 ' "$OUT" || fail "the run not predicted should be grouped apart"
}

# A scenario without a layout: plan runs the search's fastest plan and says it did, in the text
# and in the JSON (plan.searched).
case_plan_searched_layout() {
  cat >"$WORK/searched.yaml" <<'YAML'
name: searched
model: llama-3.1-8b
hardware: h100-sxm-80gb
cluster: {devices: 16, devices_per_node: 8}
training: {seq_len: 4096, global_batch: 64, precision: bf16}
YAML
  run plan "$WORK/searched.yaml"
  expect_rc 0
  expect_stdout_has "parallel: auto (or not given): the layout is the search's fastest step"
  run plan "$WORK/searched.yaml" --json
  expect_rc 0
  expect_json 'assert j["plan"]["searched"] is True and j["compat"]["warnings"][0].startswith("parallel: auto")'
  run plan "$ROOT/examples/llama3.1-70b-h100.yaml" --json
  expect_json 'assert "searched" not in j["plan"]'
}

# A search space beyond what a search takes in about a minute or two (search.h, kMaxSearchLayouts:
# 2^20 layouts the layout-level rules leave) is bad input, named with how to narrow it, before
# any search runs: a 5,040-layer model on 8.6 million GPUs took 289 s, one of 55,440 layers was
# still running after 19 minutes. plan's parallel: auto and validate's searches are held to it,
# validate's to four times that in all (114 DeepSeek-V3 searches of 36,888 layouts each pass it).
case_search_space_too_large() {
  cat >"$WORK/deep.yaml" <<'YAML'
model: {model_type: llama, hidden_size: 5040, num_hidden_layers: 5040, num_attention_heads: 5040, num_key_value_heads: 5040,
        intermediate_size: 5040, vocab_size: 5040, head_dim: 8}
hardware: gb200-nvl72
cluster: {devices: 8648640}
training: {seq_len: 5040, global_batch: 8648640, micro_batch: 1, precision: bf16}
YAML
  run search "$WORK/deep.yaml" --json
  expect_bad_input "deep.yaml: the search: expected a space of at most 1048576 layouts" "--max-pp" "got more"
  run search "$WORK/deep.yaml" --devices 8,8648640
  expect_bad_input "deep.yaml: the search: expected a space of at most 1048576 layouts" "on 8648640 devices"
  run search "$WORK/deep.yaml" --fix-tp 8 --fix-cp 1 --fix-pp 8 --top 1
  [[ "$RC" == 0 || "$RC" == 1 ]] || fail "a narrowed search: expected exit 0 or 1, got $RC"
  run plan "$WORK/deep.yaml"
  expect_bad_input "deep.yaml: parallel: auto: expected a space of at most 1048576 layouts"
  { echo "- name: deep"; sed 's/^/  /' "$WORK/deep.yaml"; echo "  measured: {step_time_s: 1}"; } >"$WORK/deep-runs.yaml"
  run validate "$WORK/deep-runs.yaml"
  expect_bad_input "run 'deep' (parallel: auto): expected a space of at most"
  : >"$WORK/many.yaml"
  for i in $(seq 1 120); do
    { echo "- name: ds$i"; sed -e '/^#/d' -e '/^name:/d' -e 's/^/  /' "$ROOT/examples/deepseek-v3-h800.yaml"; echo "  measured: {step_time_s: 1}"; } >>"$WORK/many.yaml"
  done
  run validate "$WORK/many.yaml" --search-layouts
  expect_bad_input "run 'ds114' (--search-layouts)" "at most 4194304 layouts in all"
  # A run whose published layout gives no step time is not searched, so it takes none of the budget:
  # one valid run and 29 whose stages hold more than the model's layers pass, the one searched.
  : >"$WORK/invalid.yaml"
  for i in $(seq 1 30); do
    local stage=3
    ((i > 1)) && stage=100
    { echo "- name: ds$i"; sed -e '/^#/d' -e '/^name:/d' -e "s/first_stage_layers: 3/first_stage_layers: $stage/" -e 's/^/  /' \
        "$ROOT/examples/deepseek-v3-h800.yaml"; echo "  measured: {step_time_s: 1}"; } >>"$WORK/invalid.yaml"
  done
  run validate "$WORK/invalid.yaml" --search-layouts --json
  [[ "$RC" == 0 ]] || fail "validate --search-layouts with 29 invalid layouts: expected exit 0, got $RC"
  python3 -c 'import json,sys; j=json.load(sys.stdin); n=[l["name"] for l in j["layouts"]]; sys.exit(0 if n==["ds1"] else "searched: %s" % n)' <"$OUT" \
    || fail "validate --search-layouts: expected only ds1 searched"
}

ALL_CASES=(search_space_too_large search_headroom_note readme_figures campaign_doc_figures search_and_cost_doc_figures plan_searched_layout plan_line_endings output_write_failure output_to_a_closed_pipe validate_nothing_predicted validate_by search_json search_sweep search_sweep_without_price catalog_show_json_every_key readme_scenario_block fuzzed_inputs search_bad_flags search_nothing_fits search_mpi validate_json catalog_list catalog_list_json catalog_show catalog_show_json catalog_show_json_bad_utf8 catalog_show_collective_table catalog_show_host_profile catalog_show_model catalog_show_path
  catalog_show_unknown plan_example plan_example_json plan_overrides missing_file unknown_model_id
  unknown_hardware_id bad_gemm_table bad_collective_table collective_table_other_hardware unknown_attention_kernel malformed_yaml malformed_json_model negative_degree unknown_model_type_inline
  unknown_schedule unknown_key bad_command_line invalid_plan does_not_fit reliability odd_output_width softmax_fallback override_catalog_fields command_line_paths data_directory odd_but_valid_inputs collective_table_idle fp4_precision)

if [[ ! -x "$BIN" ]]; then
  echo "not an executable: $BIN" >&2
  exit 2
fi
cases=("$@")
[[ ${#cases[@]} -eq 0 ]] && cases=("${ALL_CASES[@]}")
for CASE in "${cases[@]}"; do
  if ! declare -F "case_$CASE" >/dev/null; then
    echo "unknown case: $CASE" >&2
    exit 2
  fi
  before=$failures
  "case_$CASE"
  [[ $failures == "$before" ]] && echo "ok   $CASE" || echo "FAIL $CASE"
done
[[ $failures -eq 0 ]]
