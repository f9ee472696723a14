#!/usr/bin/env python3
"""Replays DeepSpeed's pipeline training schedule and compares its length with 1F1B's.

A diagnosis, not part of the model: it answers whether DeepSpeed's PipelineEngine (the path of
Megatron-DeepSpeed with PP > 1: the vTrain multi-node rows, MT-NLG, BLOOM) runs longer than the
1F1B schedule the step model times, because of how it orders its work.

DeepSpeed's `TrainSchedule` (deepspeed/runtime/pipe/schedule.py) runs 2 (m + p - 1) steps. At each
step a stage runs one forward or one backward (or nothing, before its first and after its last
micro-batch): forwards on even steps at even stages and odd steps at odd stages, backwards on the
others, each step mapped to its micro-batch by the schedule's arithmetic. Before its work, a
forward step exchanges with the previous stage (receive the activation, send the last gradient)
and a backward step with the next stage (send the last activation, receive the gradient); the
exchanges are blocking and paired, so both stages of a pair start their next work only when both
have finished their current one. This replays that order with per-stage forward time F and
backward time B and no transfer time, and prints the makespan beside 1F1B's (m + p - 1)(F + B).

Usage: deepspeed_schedule.py STAGES MICRO_BATCHES F B
Standard library only.
"""

import sys


def micro_batch_at(step, stage, stages):
    """(micro-batch, is_forward) of `stage` at `step`, as TrainSchedule._step_to_micro_batch maps it."""
    even_step, even_stage = step % 2 == 0, stage % 2 == 0
    if even_step and even_stage:
        return step // 2 - stage // 2, True
    if not even_step and not even_stage:
        return (step - 1) // 2 - stage // 2, True
    if even_step:  # odd stage: a backward
        return step // 2 - stages + (stage + 1) // 2, False
    return (step - 1) // 2 - stages + 1 + stage // 2, False  # even stage, odd step: a backward


def partner(step, stage, stages, micro_batches, previous):
    """The stage `stage` exchanges with before its work at `step`, or None."""
    micro_batch, forward = micro_batch_at(step, stage, stages)
    active = 0 <= micro_batch < micro_batches or 0 <= previous < micro_batches
    if not active:
        return None
    other = stage - 1 if forward else stage + 1
    return other if 0 <= other < stages else None


def makespan(stages, micro_batches, forward_s, backward_s):
    """End of the last stage's last work under DeepSpeed's step order and paired exchanges."""
    end = [0.0] * stages
    previous = [-1] * stages
    for step in range(2 * (micro_batches + stages - 1)):
        start = list(end)
        for s in range(stages):
            q = partner(step, s, stages, micro_batches, previous[s])
            if q is not None:  # a paired exchange: neither side goes on before both arrive
                start[s] = start[q] = max(end[s], end[q])
        for s in range(stages):
            micro_batch, forward = micro_batch_at(step, s, stages)
            work = (forward_s if forward else backward_s) if 0 <= micro_batch < micro_batches else 0.0
            end[s] = start[s] + work
            previous[s] = micro_batch
    return max(end)


def one_f_one_b(stages, micro_batches, forward_s, backward_s):
    return (micro_batches + stages - 1) * (forward_s + backward_s)


def main(argv):
    if len(argv) != 5:
        print(__doc__.strip().splitlines()[-2], file=sys.stderr)
        return 2
    p, m = int(argv[1]), int(argv[2])
    f, b = float(argv[3]), float(argv[4])
    print(f"deepspeed {makespan(p, m, f, b):.6g}  1f1b {one_f_one_b(p, m, f, b):.6g}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
