#!/usr/bin/env python3
"""Host (CPU) cost of one eager Megatron-style GPT layer, measured without a GPU.

A small model on one node is bound by the host: the CPU runs Python, the autograd engine and the
dispatcher for every op, and the GPU waits. That cost belongs to the software stack and the CPU, not
to the accelerator, so it can be measured on the host alone: this script runs the op sequence of a
Megatron-LM / Megatron-DeepSpeed GPT layer (2022-2023 code: fused layer norm, column- and row-parallel
linear layers with their tensor-parallel region functions, fused causal softmax, dropout under the
RNG tracker, jit-scripted bias-GeLU and bias-dropout-add, per-layer activation checkpointing with
its RNG-state bookkeeping, and the local DDP hook that adds each gradient to a main-gradient buffer)
on tensors so small that the CPU kernels cost next to nothing, and times it.

    /usr/bin/python3 tools/host/measure_eager_host.py OUT.yaml [--id NAME]

(/usr/bin/python3 with Debian's python3-torch and libopenblas0-pthread; without OpenBLAS, Debian's
reference BLAS makes even these tiny matrix products cost hundreds of microseconds.)

It writes a data/host file: per layer and micro-batch, the forward and backward of a run without
recompute, and the whole of a checkpointed layer (forward without autograd, recomputed forward,
backward); per micro-batch, the embedding, LM head and cross-entropy around the layers. Each figure
is the median of ROUNDS rounds, each timing every part once. What it leaves out is listed in the
file it writes.

Nothing here is fitted to a validation run: the op sequence follows the framework's code, and the
figures are whatever this machine measures.
"""
import argparse
import datetime
import math
import os
import platform
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before torch loads BLAS
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROUNDS = 15
LAYERS = 8


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            info = {}
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    info.setdefault(k.strip(), v.strip())
        return "%s (family %s model %s, %s MHz)" % (info.get("model name", "?"), info.get("cpu family", "?"),
                                                    info.get("model", "?"), info.get("cpu MHz", "?"))
    except OSError:
        return platform.processor() or "unknown"


# ---- Megatron's pieces, op for op (CUDA extension calls become the one aten op they stand for) ----

class FusedLayerNorm(torch.autograd.Function):
    """apex FusedLayerNormAffineFunction: one kernel forward, one backward."""
    @staticmethod
    def forward(ctx, x, weight, bias, shape, eps):
        out, mean, rstd = torch.native_layer_norm(x, shape, weight, bias, eps)
        ctx.save_for_backward(x, weight, bias, mean, rstd)
        ctx.shape = shape
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight, bias, mean, rstd = ctx.saved_tensors
        gx, gw, gb = torch.ops.aten.native_layer_norm_backward(
            grad.contiguous(), x, ctx.shape, mean, rstd, weight, bias, [True, True, True])
        return gx, gw, gb, None, None


class CopyToRegion(torch.autograd.Function):
    """tensor_parallel copy_to_tensor_model_parallel_region: identity forward, all-reduce backward."""
    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad  # the all-reduce itself is not run here (see `omitted`)


class ReduceFromRegion(torch.autograd.Function):
    """reduce_from_tensor_model_parallel_region: all-reduce forward, identity backward."""
    @staticmethod
    def forward(ctx, x):
        return x  # the all-reduce itself is not run here

    @staticmethod
    def backward(ctx, grad):
        return grad


class LinearWithGradAccumulation(torch.autograd.Function):
    """LinearWithGradAccumulationAndAsyncAllreduce without fused accumulation."""
    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.use_bias = bias is not None
        out = torch.matmul(x, weight.t())
        if bias is not None:
            out = out + bias
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_input = grad.matmul(weight)
        grad = grad.view(grad.shape[0] * grad.shape[1], grad.shape[2])
        x = x.view(x.shape[0] * x.shape[1], x.shape[2])
        grad_weight = grad.t().matmul(x)
        grad_bias = grad.sum(dim=0) if ctx.use_bias else None
        return grad_input, grad_weight, grad_bias


class CausalSoftmax(torch.autograd.Function):
    """ScaledUpperTriangMaskedSoftmax: one extension call each way (scale and mask inside)."""
    @staticmethod
    def forward(ctx, x, scale):
        probs = torch.softmax(x, dim=-1)
        ctx.save_for_backward(probs)
        return probs

    @staticmethod
    def backward(ctx, grad):
        (probs,) = ctx.saved_tensors
        return torch._softmax_backward_data(grad, probs, -1, probs.dtype), None


@torch.jit.script
def bias_gelu(bias, y):
    x = bias + y
    return x * 0.5 * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))


@torch.jit.script
def bias_gelu_back(g, bias, y):
    x = bias + y
    tanh_out = torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x))
    ff = 0.5 * x * ((1 - tanh_out * tanh_out) * (0.79788456 + 0.1070322243 * x * x)) + 0.5 * (1 + tanh_out)
    return ff * g


class GeLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, bias):
        ctx.save_for_backward(x, bias)
        return bias_gelu(bias, x)

    @staticmethod
    def backward(ctx, grad):
        x, bias = ctx.saved_tensors
        tmp = bias_gelu_back(grad, bias, x)
        return tmp, tmp


@torch.jit.script
def bias_dropout_add_fused_train(x: torch.Tensor, bias: torch.Tensor, residual: torch.Tensor,
                                 prob: float) -> torch.Tensor:
    out = torch.nn.functional.dropout(x + bias, p=prob, training=True)
    return residual + out


class RngTracker:
    """CudaRNGStatesTracker: fork() swaps the generator state in and out."""
    def __init__(self):
        self.gen = torch.Generator()
        self.states = {"model-parallel-rng": self.gen.get_state()}

    def get_states(self):
        return dict(self.states)

    def set_states(self, states):
        self.states = states

    def fork(self):
        tracker = self

        class Fork:
            def __enter__(self):
                self.orig = torch.get_rng_state()
                torch.set_rng_state(tracker.states["model-parallel-rng"])

            def __exit__(self, *exc):
                tracker.states["model-parallel-rng"] = torch.get_rng_state()
                torch.set_rng_state(self.orig)
        return Fork()


TRACKER = RngTracker()
DEVICE_GEN = torch.Generator()  # stands for the CUDA default generator


class CheckpointFunction(torch.autograd.Function):
    """tensor_parallel.random.CheckpointFunction: RNG states saved forward, restored to recompute."""
    @staticmethod
    def forward(ctx, run_function, *args):
        ctx.run_function = run_function
        ctx.fwd_cpu_rng_state = torch.get_rng_state()
        ctx.fwd_cuda_rng_state = DEVICE_GEN.get_state()
        ctx.fwd_tracker = TRACKER.get_states()
        with torch.no_grad():
            outputs = run_function(*args)
        ctx.save_for_backward(*args)
        return outputs

    @staticmethod
    def backward(ctx, *grads):
        inputs = ctx.saved_tensors
        bwd_cpu = torch.get_rng_state()
        bwd_cuda = DEVICE_GEN.get_state()
        bwd_tracker = TRACKER.get_states()
        torch.set_rng_state(ctx.fwd_cpu_rng_state)
        DEVICE_GEN.set_state(ctx.fwd_cuda_rng_state)
        TRACKER.set_states(ctx.fwd_tracker)
        detached = tuple(x.detach().requires_grad_(x.requires_grad) if x.is_floating_point() else x
                         for x in inputs)
        with torch.enable_grad():
            outputs = ctx.run_function(*detached)
        torch.set_rng_state(bwd_cpu)
        DEVICE_GEN.set_state(bwd_cuda)
        TRACKER.set_states(bwd_tracker)
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        torch.autograd.backward(outputs, grads)
        return (None,) + tuple(x.grad if isinstance(x, torch.Tensor) and x.is_floating_point() else None
                               for x in detached)


class ColumnParallelLinear(torch.nn.Module):
    def __init__(self, n_in, n_out, skip_bias_add):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(n_out, n_in) * 0.02)
        self.bias = torch.nn.Parameter(torch.zeros(n_out))
        self.skip_bias_add = skip_bias_add

    def forward(self, x):
        x = CopyToRegion.apply(x)
        bias = None if self.skip_bias_add else self.bias
        out = LinearWithGradAccumulation.apply(x, self.weight, bias)
        return out, (self.bias if self.skip_bias_add else None)


class RowParallelLinear(torch.nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(n_out, n_in) * 0.02)
        self.bias = torch.nn.Parameter(torch.zeros(n_out))

    def forward(self, x):
        out = LinearWithGradAccumulation.apply(x, self.weight, None)
        return ReduceFromRegion.apply(out), self.bias  # skip_bias_add


class LayerNorm(torch.nn.Module):
    def __init__(self, h):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(h))
        self.bias = torch.nn.Parameter(torch.zeros(h))
        self.shape = [h]

    def forward(self, x):
        return FusedLayerNorm.apply(x, self.weight, self.bias, self.shape, 1e-5)


class TransformerLayer(torch.nn.Module):
    def __init__(self, h, heads):
        super().__init__()
        self.h, self.heads, self.hn = h, heads, h // heads
        self.input_layernorm = LayerNorm(h)
        self.query_key_value = ColumnParallelLinear(h, 3 * h, skip_bias_add=False)
        self.dense = RowParallelLinear(h, h)
        self.post_attention_layernorm = LayerNorm(h)
        self.dense_h_to_4h = ColumnParallelLinear(h, 4 * h, skip_bias_add=True)
        self.dense_4h_to_h = RowParallelLinear(4 * h, h)
        self.norm_factor = math.sqrt(self.hn)

    def attention(self, x):
        mixed, _ = self.query_key_value(x)
        mixed = mixed.view(*(mixed.size()[:-1] + (self.heads, 3 * self.hn)))
        query, key, value = torch.split(mixed, self.hn, dim=-1)
        sq, b = query.size(0), query.size(1)
        output_size = (b, self.heads, sq, key.size(0))
        query = query.reshape(sq, b * self.heads, -1)
        key = key.reshape(key.size(0), b * self.heads, -1)
        buffer = torch.empty(b * self.heads, sq, key.size(0), dtype=query.dtype)
        scores = torch.baddbmm(buffer, query.transpose(0, 1), key.transpose(0, 1).transpose(1, 2),
                               beta=0.0, alpha=1.0 / self.norm_factor)
        scores = scores.view(*output_size)
        probs = CausalSoftmax.apply(scores.view(-1, sq, key.size(0)), 1.0).view(*output_size)
        with TRACKER.fork():
            probs = F.dropout(probs, 0.1, True)
        value = value.reshape(value.size(0), b * self.heads, -1)
        probs = probs.view(b * self.heads, sq, -1)
        context = torch.bmm(probs, value.transpose(0, 1))
        context = context.view(b, self.heads, sq, self.hn).permute(2, 0, 1, 3).contiguous()
        context = context.view(*(context.size()[:-2] + (self.h,)))
        return self.dense(context)

    def forward(self, hidden, mask):
        ln = self.input_layernorm(hidden)
        out, bias = self.attention(ln)
        with torch.enable_grad():
            hidden = bias_dropout_add_fused_train(out, bias.expand_as(hidden), hidden, 0.1)
        ln = self.post_attention_layernorm(hidden)
        inter, bias = self.dense_h_to_4h(ln)
        inter = GeLUFunction.apply(inter, bias)
        out, bias = self.dense_4h_to_h(inter)
        with torch.enable_grad():
            hidden = bias_dropout_add_fused_train(out, bias.expand_as(hidden), hidden, 0.1)
        return hidden


class VocabParallelCrossEntropy(torch.autograd.Function):
    """tensor_parallel.cross_entropy: the partition bookkeeping and both reductions (not run here)."""
    @staticmethod
    def forward(ctx, logits, target):
        logits_max = torch.max(logits, dim=-1)[0]
        logits = logits - logits_max.unsqueeze(dim=-1)
        vocab = logits.size()[-1]
        start, end = 0, vocab
        target_mask = (target < start) | (target >= end)
        masked_target = target.clone() - start
        masked_target[target_mask] = 0
        logits_2d = logits.view(-1, vocab)
        masked_target_1d = masked_target.view(-1)
        arange_1d = torch.arange(start=0, end=logits_2d.size()[0])
        predicted = logits_2d[arange_1d, masked_target_1d].clone().contiguous().view_as(target)
        predicted[target_mask] = 0.0
        exp_logits = torch.exp(logits, out=logits)
        sum_exp = exp_logits.sum(dim=-1)
        loss = torch.log(sum_exp) - predicted
        exp_logits.div_(sum_exp.unsqueeze(dim=-1))
        ctx.save_for_backward(exp_logits, target_mask, masked_target_1d)
        return loss

    @staticmethod
    def backward(ctx, grad):
        softmax, target_mask, masked_target_1d = ctx.saved_tensors
        grad_input = softmax
        vocab = softmax.size()[-1]
        grad_2d = grad_input.view(-1, vocab)
        arange_1d = torch.arange(start=0, end=grad_2d.size()[0])
        grad_2d[arange_1d, masked_target_1d] -= (1.0 - target_mask.view(-1).float())
        grad_input.mul_(grad.unsqueeze(dim=-1))
        return grad_input, None


class Model(torch.nn.Module):
    def __init__(self, h, heads, layers, vocab, seq):
        super().__init__()
        self.word = torch.nn.Parameter(torch.randn(vocab, h) * 0.02)
        self.position = torch.nn.Parameter(torch.randn(seq, h) * 0.02)
        self.layers = torch.nn.ModuleList([TransformerLayer(h, heads) for _ in range(layers)])
        self.final_layernorm = LayerNorm(h)

    def embed(self, tokens, positions):
        words = ReduceFromRegion.apply(F.embedding(tokens, self.word))
        emb = words + F.embedding(positions, self.position)
        emb = emb.transpose(0, 1).contiguous()
        with TRACKER.fork():
            emb = F.dropout(emb, 0.1, True)
        return emb

    def head(self, hidden, labels, loss_mask):
        hidden = self.final_layernorm(hidden)
        x = CopyToRegion.apply(hidden)
        logits = LinearWithGradAccumulation.apply(x, self.word, None)
        logits = logits.transpose(0, 1).contiguous()
        losses = VocabParallelCrossEntropy.apply(logits.float(), labels)
        loss_mask = loss_mask.view(-1).float()
        return torch.sum(losses.view(-1) * loss_mask) / loss_mask.sum()


def add_grad_hooks(params):
    """Megatron local DDP: each parameter's gradient is added to its main_grad, then freed."""
    keep = []
    for p in params:
        p.main_grad = torch.zeros_like(p)
        grad_acc = p.expand_as(p).grad_fn.next_functions[0][0]

        def hook(*unused, p=p):
            if p.grad is not None:
                p.main_grad.add_(p.grad.data)
                p.grad = None
        grad_acc.register_hook(hook)
        keep.append(grad_acc)
    return keep


def timed(fn, inner):
    t = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t) / inner


def measure(h, heads, seq, vocab, layers=LAYERS, rounds=ROUNDS, inner=10):
    """Seconds per layer (and per micro-batch around the layers): the median over `rounds`, each
    round timing every quantity once, so that a slow spell of a shared machine falls on all."""
    torch.manual_seed(0)
    model = Model(h, heads, layers, vocab, seq)
    keep = add_grad_hooks(list(model.parameters()))
    tokens = torch.randint(0, vocab, (1, seq))
    positions = torch.arange(seq).unsqueeze(0)
    labels = torch.randint(0, vocab, (1, seq))
    loss_mask = torch.ones(1, seq)
    mask = torch.ones(1, 1, seq, seq, dtype=torch.bool).triu(1)
    x0 = torch.randn(seq, 1, h)

    def forward():
        x = x0.clone().requires_grad_(True)
        for layer in model.layers:
            x = layer(x, mask)
        return x

    def forward_backward():
        forward().sum().backward()

    def checkpointed():
        x = x0.clone().requires_grad_(True)
        for layer in model.layers:
            x = CheckpointFunction.apply(layer, x, mask)
        x.sum().backward()

    def around_layers():
        loss = model.head(model.embed(tokens, positions), labels, loss_mask)
        loss.backward()

    parts = {"forward": forward, "forward_backward": forward_backward, "checkpointed": checkpointed,
             "around_layers": around_layers}
    for fn in parts.values():
        for _ in range(3):
            fn()
    samples = {name: [] for name in parts}
    for _ in range(rounds):
        for name, fn in parts.items():
            samples[name].append(timed(fn, inner))
    med = {name: statistics.median(v) for name, v in samples.items()}
    del keep
    return {
        "forward": med["forward"] / layers,
        "backward": (med["forward_backward"] - med["forward"]) / layers,
        "checkpointed": med["checkpointed"] / layers,
        "around_layers": med["around_layers"],
        "spread": max((max(v) - min(v)) / statistics.median(v) for v in samples.values()),
    }


def us(x):
    return round(x * 1e6, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--id", default="megatron-gpt-eager")
    args = ap.parse_args()
    torch.set_num_threads(1)  # dispatch is single-threaded; tiny ops gain nothing from OpenMP
    started = datetime.datetime.now(datetime.timezone.utc)
    small = measure(h=32, heads=16, seq=4, vocab=64)
    large = measure(h=64, heads=16, seq=8, vocab=128, rounds=5)
    seconds = (datetime.datetime.now(datetime.timezone.utc) - started).total_seconds()
    with open(args.out, "w") as f:
        f.write("# Host (CPU) time of one eager Megatron-style GPT layer, for training.host_profile.\n")
        f.write("# Written by tools/host/measure_eager_host.py: each figure is the median of %d rounds that time\n"
                "# every part once (%d layers, 10 steps a round).\n" % (ROUNDS, LAYERS))
        f.write("id: %s\n" % args.id)
        f.write('source: "tools/host/measure_eager_host.py on %s, PyTorch %s, Python %s, %s UTC, %.0f s"\n'
                % (cpu_model(), torch.__version__, platform.python_version(), started.strftime("%Y-%m-%d %H:%M"), seconds))
        f.write('stack: "Megatron-LM / Megatron-DeepSpeed GPT layer (2022-2023 code), eager PyTorch, fp16, '
                'local DDP main-gradient hooks"\n')
        f.write("layer_us:                # per transformer layer and micro-batch\n")
        f.write("  forward: %s           # forward building the autograd graph (no recompute)\n" % us(small["forward"]))
        f.write("  backward: %s          # its backward\n" % us(small["backward"]))
        f.write("  checkpointed: %s      # full recompute: checkpointed forward, recomputed forward and backward\n"
                % us(small["checkpointed"]))
        f.write("micro_batch_us: %s      # embedding, LM head and cross-entropy, forward and backward\n"
                % us(small["around_layers"]))
        f.write("checks:\n")
        f.write("  largest_round_spread: %.2f      # (slowest - fastest round) / median, over the parts\n" % small["spread"])
        f.write("  checkpointed_at_doubled_shapes_us: %s  # hidden 64, sequence 8: what the CPU kernels add\n"
                % us(large["checkpointed"]))
        f.write("shapes: {hidden: 32, heads: 16, seq: 4, micro_batch: 1, vocab: 64, layers: %d}\n" % LAYERS)
        f.write("omitted:\n")
        for line in (
            "the CUDA driver's launch call per kernel (1.3-3.0 us for a raw cuLaunchKernel on GB200, "
            "meta-pytorch/tritonbench PRs 1016 and 1017): the tiny CPU kernels run in its place",
            "the collectives' own host calls (NCCL enqueue); the region functions around them are timed",
            "the pipeline engine's per-micro-batch bookkeeping and sends",
            "optimizer, loss scaling and gradient-norm work once per step",
        ):
            f.write('  - "%s"\n' % line)
    print(open(args.out).read())


if __name__ == "__main__":
    main()
