#!/usr/bin/env python3
"""One host profile from several runs of measure_eager_host.py with the same stack and settings.

    python3 tools/host/pool_host_profiles.py OUT.yaml --id ID --note TEXT RUN.yaml RUN.yaml...

Two runs of the host tool on lent machines of one kind disagree by more than their rounds do (on
the H200 machines of 2026-12-04, the checkpointed layer's fastest round came out 3,420 and 3,905 us
on two machines' runs with the same settings). Each run's figure is already the fastest of its
rounds, because on a shared machine other work only ever adds time; the same reasoning carries
across runs, so the pooled profile takes, figure by figure, the fastest run's value for those
figures. The paired figures (collective_call_us, unfused_softmax_op_us: medians of per-round
differences, where other work adds to both sides) are averaged over the runs instead. Every run's
value of each pooled figure is kept as a comment beside it, and the runs' sources under `checks`.

Runs given with --layer-only join the pool for the TP-1 layer's own figures alone (layer_us and
unfused_softmax_op_us, which call no collective): runs of another c10d setting, say, whose
collectives and micro-batch figures (which do call them) are not this profile's.

The first run's file is the template: its keys, comments and lists are kept, with the pooled values
in place of its own.
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data"))
from atomic_write import write_text  # noqa: E402

LAYER = ("layer_us.forward", "layer_us.backward", "layer_us.checkpointed", "layer_us.checkpointed_forward")
FASTEST = LAYER + ("micro_batch_us", "input_us.before_sync", "input_us.after_sync")
MEAN = ("collective_call_us", "unfused_softmax_op_us")
LAYER_ONLY = LAYER + ("unfused_softmax_op_us",)  # the TP-1 layer's own figures: no collective in them
LINE = re.compile(r"^(?P<indent> *)(?P<key>[a-z_]+): (?P<value>-?[0-9.]+)(?P<rest>.*)$")
SECTION = re.compile(r"^(?P<key>[a-z_]+):\s*(#.*)?$")


def figures(text):
    """{dotted key: value} of the numeric lines of a profile, and the id and source."""
    out, section = {}, None
    for line in text.splitlines():
        s = SECTION.match(line)
        if s:
            section = s.group("key")
            continue
        m = LINE.match(line)
        if m:
            key = m.group("key") if not m.group("indent") else "%s.%s" % (section, m.group("key"))
            if not m.group("indent"):
                section = None
            out[key] = float(m.group("value"))
        elif line and not line.startswith(" "):
            section = None
    src = re.search(r'^source: "(.*)"$', text, re.M)
    out["source"] = src.group(1) if src else ""
    return out


def pooled(runs, layer_runs=()):
    """{key: (value, [each run's value])} of the figures pooled; `layer_runs` join the pool for
    the layer's own figures (LAYER_ONLY) alone."""
    result = {}
    for key in FASTEST + MEAN:
        values = [r[key] for r in runs if key in r]
        if key in LAYER_ONLY:
            values += [r[key] for r in layer_runs if key in r]
        if not values:
            continue
        expected = len(runs) + (len(layer_runs) if key in LAYER_ONLY else 0)
        if len(values) != expected:
            raise SystemExit("pool_host_profiles.py: %s is in %d of the %d runs" % (key, len(values), expected))
        result[key] = (min(values) if key in FASTEST else sum(values) / len(values), values)
    return result


def render(template, runs, pool, pid, note, stack_note=None, layer_runs=()):
    out, section = [], None
    header_done = False
    for line in template.splitlines():
        if line.startswith("#"):
            continue  # the template's header: replaced by the pooled one
        if not header_done:
            out.append("# Host (CPU) time of one eager Megatron-style GPT layer, for training.host_profile,")
            out.append("# pooled by tools/host/pool_host_profiles.py from %d runs of tools/host/measure_eager_host.py%s:"
                       % (len(runs) + len(layer_runs),
                          " (%d for the layer figures alone)" % len(layer_runs) if layer_runs else ""))
            out.append("# the fastest run's value of each fastest-of-rounds figure, the mean of the paired medians.")
            for n in note:
                out.append("# " + n)
            header_done = True
        if line.startswith("id: "):
            out.append("id: " + pid)
            continue
        if line.startswith("source: "):
            out.append('source: "pooled from %d runs: %s"' % (len(runs) + len(layer_runs),
                                                                " | ".join(r["source"] for r in runs + layer_runs)))
            continue
        s = SECTION.match(line)
        if s:
            section = s.group("key")
            out.append(line)
            if section == "checks":
                for i, r in enumerate(runs + layer_runs):
                    what = "" if i < len(runs) else " (its layer figures alone)"
                    out.append('  run_%d: "%s%s"' % (i + 1, r["source"], what))
            continue
        if section == "checks" and line.startswith("  "):
            out.append(line.rstrip() + (" (run 1)" if "#" in line else "  # run 1"))
            continue
        if line.startswith("stack: ") and stack_note:
            out.append(line.rstrip()[:-1] + '; ' + stack_note + '"')
            continue
        m = LINE.match(line)
        if m:
            key = m.group("key") if not m.group("indent") else "%s.%s" % (section, m.group("key"))
            if key in pool:
                value, values = pool[key]
                rule = "fastest" if key in FASTEST else "mean"
                out.append("%s%s: %.1f  # %s of the runs' %s" % (m.group("indent"), m.group("key"), value, rule,
                                                                   ", ".join("%.1f" % v for v in values)))
                continue
        elif line and not line.startswith(" "):
            section = None
        out.append(line)
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out")
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--id", required=True)
    ap.add_argument("--note", action="append", default=[], help="a header line (repeatable)")
    ap.add_argument("--layer-only", action="append", default=[], metavar="RUN.yaml",
                    help="a run whose layer figures (layer_us, unfused_softmax_op_us) join the pool, and no other")
    ap.add_argument("--stack-note", default=None, help="added to the template's stack line")
    args = ap.parse_args()
    texts = [open(p).read() for p in args.runs]
    runs = [figures(t) for t in texts]
    layer_runs = [figures(open(p).read()) for p in args.layer_only]
    pool = pooled(runs, layer_runs)
    if not pool:
        raise SystemExit("pool_host_profiles.py: no figures found in %s" % args.runs[0])
    write_text(args.out, render(texts[0], runs, pool, args.id, args.note, args.stack_note, layer_runs))


if __name__ == "__main__":
    main()
