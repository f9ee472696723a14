"""Megatron's GPT layer, op for op, for tools/host/measure_eager_host.py to time on a host.

The code path of microsoft/Megatron-DeepSpeed of 2022 to mid-2023 (the megatron/mpu code:
model/transformer.py, model/fused_softmax.py, model/fused_layer_norm.py, mpu/layers.py,
mpu/mappings.py, mpu/random.py, mpu/cross_entropy.py, model/language_model.py) with DeepSpeed's
activation checkpointing, and Megatron-LM's (its own checkpointing, local DDP hooks). A CUDA
extension call or a fused kernel becomes one aten op. On a CPU alone (the default), torch.cuda's
RNG-state functions become the same Python over a CPU generator and the collectives are left out;
use_device("cuda", group) runs the same code on a GPU, with the device's generators, copies and
waits, and each collective called on `group` (a one-rank NCCL communicator). STACKS names the two
stacks.
"""
import contextlib
import importlib.util
import math
import time

import torch
import torch.nn.functional as F


# ---- Megatron's pieces, op for op, as in microsoft/Megatron-DeepSpeed of 2022 to mid-2023 (the
# megatron/mpu code: model/transformer.py, model/fused_softmax.py, model/fused_layer_norm.py,
# mpu/layers.py, mpu/mappings.py, mpu/random.py, mpu/cross_entropy.py, model/language_model.py) and
# DeepSpeed's activation checkpointing. A CUDA extension call becomes the one aten op it performs;
# torch.cuda's RNG-state functions become the same Python over a CPU generator.

class FusedLayerNormAffineFunction(torch.autograd.Function):
    """apex: contiguous inputs, one kernel forward, one backward."""
    @staticmethod
    def forward(ctx, x, weight, bias, shape, eps):
        ctx.normalized_shape = shape
        ctx.eps = eps
        input_, weight_, bias_ = x.contiguous(), weight.contiguous(), bias.contiguous()
        out, mean, invvar = torch.native_layer_norm(input_, shape, weight_, bias_, eps)
        ctx.save_for_backward(input_, weight_, bias_, mean, invvar)
        return out

    @staticmethod
    def backward(ctx, grad):
        input_, weight_, bias_, mean, invvar = ctx.saved_tensors
        gx, gw, gb = torch.ops.aten.native_layer_norm_backward(
            grad.contiguous(), input_, ctx.normalized_shape, mean, invvar, weight_, bias_, [True, True, True])
        return gx, gw, gb, None, None


class MixedFusedLayerNorm(torch.nn.Module):
    def __init__(self, h):
        super().__init__()
        self.normalized_shape = (h,)
        self.eps = 1e-5
        self.weight = torch.nn.Parameter(torch.ones(h))
        self.bias = torch.nn.Parameter(torch.zeros(h))

    def forward(self, x):
        if not x.is_cuda:  # the real module checks this too (and is on CUDA)
            pass
        return FusedLayerNormAffineFunction.apply(x, self.weight, self.bias, self.normalized_shape, self.eps)


def get_tensor_model_parallel_world_size():
    return _WORLD["tp"]  # torch.distributed.get_world_size(group) in the real code


# Where the layer runs. On a CPU alone: CPU tensors, no collectives (TP 1 only). With
# use_device("cuda", group): the device's tensors, generators, copies and waits, and "TP" > 1 calls
# each collective on `group`, a one-rank communicator standing for the tensor-parallel group (the
# host's part of a call is the same; the other ranks' data is not).
_WORLD = {"tp": 1, "device": torch.device("cpu"), "group": None}


def use_device(device, group=None):
    """Run on `device` ("cpu" or "cuda"), calling the collectives on `group` (None: left out)."""
    _WORLD["device"] = torch.device(device)
    _WORLD["group"] = group
    if _WORLD["device"].type == "cuda":
        _DEVICE_GENERATORS[:] = list(torch.cuda.default_generators)
        _TRACKER.states_ = {"model-parallel-rng": _DEVICE_GENERATORS[0].get_state()}


def on_gpu():
    return _WORLD["device"].type == "cuda"


def collectives_on():
    """Whether the collectives are called (on a GPU host; or on a CPU with a one-rank gloo group, to
    check this code: gloo's calls are not NCCL's)."""
    return _WORLD["group"] is not None


def get_tensor_model_parallel_group():
    assert _WORLD["group"] is not None, "intra_layer_model parallel group is not initialized"
    return _WORLD["group"]


# The host time spent inside the collective calls themselves (c10d and the NCCL enqueue), when
# the measuring tool asks for it: [seconds, calls]. Not in the real code.
CALL_CLOCK = None


def _reduce(x):
    if get_tensor_model_parallel_world_size() == 1:
        return x
    if CALL_CLOCK is None:
        torch.distributed.all_reduce(x, group=get_tensor_model_parallel_group())
        return x
    t = time.perf_counter()
    torch.distributed.all_reduce(x, group=get_tensor_model_parallel_group())
    CALL_CLOCK[0] += time.perf_counter() - t
    CALL_CLOCK[1] += 1
    return x


class _CopyToModelParallelRegion(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, grad):
        return _reduce(grad)


class _ReduceFromModelParallelRegion(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return _reduce(x)

    @staticmethod
    def backward(ctx, grad):
        return grad


class ColumnParallelLinear(torch.nn.Module):
    def __init__(self, n_in, n_out, skip_bias_add):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(n_out, n_in) * 0.02)
        self.bias = torch.nn.Parameter(torch.zeros(n_out))
        self.skip_bias_add = skip_bias_add
        self.gather_output = False

    def forward(self, x):
        input_parallel = _CopyToModelParallelRegion.apply(x)
        bias = self.bias if not self.skip_bias_add else None
        output_parallel = F.linear(input_parallel, self.weight, bias)
        output = output_parallel  # gather_output is False
        output_bias = self.bias if self.skip_bias_add else None
        return output, output_bias


class RowParallelLinear(torch.nn.Module):
    def __init__(self, n_in, n_out):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(n_out, n_in) * 0.02)
        self.bias = torch.nn.Parameter(torch.zeros(n_out))
        self.input_is_parallel = True
        self.skip_bias_add = True

    def forward(self, x):
        input_parallel = x  # input_is_parallel
        output_parallel = F.linear(input_parallel, self.weight)
        output_ = _ReduceFromModelParallelRegion.apply(output_parallel)
        return output_, self.bias  # skip_bias_add


class ScaledUpperTriangMaskedSoftmax(torch.autograd.Function):
    """One extension call each way; the scale travels as a one-element tensor."""
    @staticmethod
    def forward(ctx, inputs, scale):
        scale_t = torch.tensor([scale])
        softmax_results = torch._softmax(inputs, -1, False)  # the extension's forward(inputs, scale_t[0])
        float(scale_t[0])
        ctx.save_for_backward(softmax_results, scale_t)
        return softmax_results

    @staticmethod
    def backward(ctx, output_grads):
        softmax_results, scale_t = ctx.saved_tensors
        float(scale_t[0])
        input_grads = torch._softmax_backward_data(output_grads, softmax_results, -1, softmax_results.dtype)
        return input_grads, None


# The tool's switch for Megatron's fallback: when True, FusedScaleMaskSoftmax runs
# forward_torch_softmax, as Megatron does where is_kernel_available fails (micro-batch x heads / TP
# not a multiple of 4, keys beyond the kernel's limit).
UNFUSED_SOFTMAX = False


def attention_mask_func(attention_scores, attention_mask):
    attention_scores.masked_fill_(attention_mask, -10000.0)
    return attention_scores


class FusedScaleMaskSoftmax(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.input_in_fp16 = True
        self.scaled_masked_softmax_fusion = True
        self.softmax_in_fp32 = True  # forced by query-key layer scaling, Megatron's default
        self.scale = 1.0  # the layer-number coefficient under query-key layer scaling (not None)

    def is_kernel_available(self, mask, b, np_, sq, sk):
        attn_batches = b * np_
        return (self.scaled_masked_softmax_fusion and self.input_in_fp16 and 16 < sk <= 2048
                and sq % 4 == 0 and attn_batches % 4 == 0) or True  # the real sizes pass; tiny ones here

    def forward(self, x, mask):
        assert x.dim() == 4
        if not UNFUSED_SOFTMAX and self.is_kernel_available(mask, *x.size()):
            b, np_, sq, sk = x.size()
            scale = self.scale if self.scale is not None else 1.0
            assert sq == sk, "causal mask is only for self attention"
            x = x.view(-1, sq, sk)
            probs = ScaledUpperTriangMaskedSoftmax.apply(x, scale)
            return probs.view(b, np_, sq, sk)
        return self.forward_torch_softmax(x, mask)

    def forward_torch_softmax(self, x, mask):
        """Megatron's fallback with softmax_in_fp32: cast up, scale, mask in place, softmax, cast back.
        A CPU run's fp32 tensors go through fp64, so that it runs the GPU's five ops."""
        dtype = x.dtype
        if self.input_in_fp16 and self.softmax_in_fp32:
            x = x.float() if dtype == torch.float16 else x.double()
        if self.scale is not None:
            x = x * self.scale
        mask_output = attention_mask_func(x, mask) if mask is not None else x
        probs = torch.nn.Softmax(dim=-1)(mask_output)
        if self.input_in_fp16 and self.softmax_in_fp32:
            probs = probs.half() if dtype == torch.float16 else probs.to(dtype)
        return probs


class Dropout(torch.nn.Module):
    """torch.nn.Dropout; on CUDA F.dropout is the one native_dropout op used here."""
    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        return torch.native_dropout(x, self.p, True)[0]


# Megatron's jit-scripted fusions run on the GPU as one fused kernel each way (the legacy executor
# with the GPU fuser, set at import of model/transformer.py). This PyTorch has no CPU fuser (no
# LLVM), where they would run op by op, so each stands here as a scripted function of one op with
# the same inputs: the host pays the script call and one kernel, as on the GPU. A PyTorch that can no
# longer script (TorchScript is deprecated) runs the plain function, and the profile's `omitted` says so.
UNSCRIPTED = []


def _script(fn):
    try:
        return torch.jit.script(fn)
    except Exception:  # any failure to script: run it eagerly, and record that
        UNSCRIPTED.append(fn.__name__)
        return fn


@_script
def bias_gelu(bias, y):
    return bias + y  # x = bias + y; x * 0.5 * (1 + tanh(0.79788456 * x * (1 + 0.044715 * x * x))), fused


@_script
def bias_gelu_back(g, bias, y):
    return torch.addcmul(g, bias, y)  # the GeLU derivative at bias + y, times g, fused


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


@_script
def bias_dropout_add_fused_train(x: torch.Tensor, bias: torch.Tensor, residual: torch.Tensor,
                                 prob: float) -> torch.Tensor:
    return torch.addcmul(residual, x, bias)  # residual + dropout(x + bias, prob), fused


# torch.cuda.get_rng_state / _set_cuda_rng_state: on a CPU alone over a CPU generator standing for
# the device's, on a GPU over torch.cuda.default_generators (use_device).
_DEVICE_GENERATORS = [torch.Generator()]


def _current_device():
    return torch.cuda.current_device() if on_gpu() else 0


def _current_device_name():
    return "cuda:%d" % torch.cuda.current_device() if on_gpu() else torch.device("cpu")


def cuda_get_rng_state(device="cuda"):
    if isinstance(device, str):
        device = torch.device(device if on_gpu() else "cpu")
    idx = device.index
    if idx is None:
        idx = _current_device()
    return _DEVICE_GENERATORS[idx].get_state()


def _set_cuda_rng_state(new_state, device=-1):
    device = torch.device("cuda" if on_gpu() else "cpu") if device == -1 else device

    def cb():
        idx = device.index
        if idx is None:
            idx = _current_device()
        _DEVICE_GENERATORS[idx].set_state(new_state)
    cb()  # _lazy_call runs it at once once CUDA is initialised


class CudaRNGStatesTracker:
    def __init__(self):
        self.states_ = {"model-parallel-rng": _DEVICE_GENERATORS[0].get_state()}
        self.seeds_ = set()

    def get_states(self):
        return {name: state for name, state in self.states_.items()}

    def set_states(self, states):
        self.states_ = states

    @contextlib.contextmanager
    def fork(self, name="model-parallel-rng"):
        if name not in self.states_:
            raise Exception("cuda rng state {} is not added".format(name))
        orig_cuda_rng_state = cuda_get_rng_state()
        _set_cuda_rng_state(self.states_[name])
        try:
            yield
        finally:
            self.states_[name] = cuda_get_rng_state()
            _set_cuda_rng_state(orig_cuda_rng_state)


_TRACKER = CudaRNGStatesTracker()


def get_cuda_rng_tracker():
    return _TRACKER


def detach_variable(inputs):
    out = []
    for inp in inputs:
        if not isinstance(inp, torch.Tensor):
            out.append(inp)
            continue
        x = inp.detach()
        x.requires_grad = inp.requires_grad
        out.append(x)
    return tuple(out)


def extract_tensors(all_objects):
    tensor_objects = [v for v in all_objects if torch.is_tensor(v)]
    non_tensor_objects = [v for v in all_objects if not torch.is_tensor(v)]
    tensor_flags = [torch.is_tensor(v) for v in all_objects]
    if type(all_objects) is tuple:
        return tuple(tensor_objects), tuple(non_tensor_objects), tuple(tensor_flags)
    return tensor_objects, non_tensor_objects, tensor_flags


def merge_tensors(tensor_objects, non_tensor_objects, tensor_flags):
    merged, real, fake = [], 0, 0
    for is_tensor in tensor_flags:
        if is_tensor:
            merged.append(tensor_objects[real])
            real += 1
        else:
            merged.append(non_tensor_objects[fake])
            fake += 1
    return tuple(merged)


def copy_to_device(item, device, criterion_func):
    if torch.is_tensor(item) and criterion_func(item):
        return item.to(device)
    if isinstance(item, (list, tuple)):
        return type(item)(copy_to_device(v, device, criterion_func) for v in item)
    return item


def is_activation_to_checkpoint(item):
    return torch.is_tensor(item) and item.is_floating_point() and item.numel() >= 1


def see_memory_usage(message, force=False):
    if not force:
        return


class DeepSpeedCheckpointFunction(torch.autograd.Function):
    """deepspeed.runtime.activation_checkpointing.checkpointing.CheckpointFunction, with its
    defaults (no partitioning, no CPU checkpointing, no synchronisation, no profiling)."""
    @staticmethod
    def forward(ctx, run_function, all_outputs, *args):
        def save_args_for_backward(*all_args):
            tensor_args, non_tensor_args, tensor_flags = extract_tensors(all_objects=all_args)
            ctx.save_for_backward(*tensor_args)
            ctx.non_tensor_args = non_tensor_args
            ctx.tensor_flags = tensor_flags

        ctx.run_function = run_function
        inputs_cuda = copy_to_device(args, device=_current_device_name(), criterion_func=is_activation_to_checkpoint)
        ctx.fwd_cpu_rng_state = torch.get_rng_state()
        ctx.fwd_cuda_rng_state = cuda_get_rng_state()
        ctx.fwd_cuda_rng_state_tracker = get_cuda_rng_tracker().get_states()
        see_memory_usage("Before running forward on the layer", force=False)
        with torch.no_grad():
            outputs = run_function(*inputs_cuda)
        see_memory_usage("After running forward on the layer", force=False)
        del inputs_cuda
        save_args_for_backward(*args)
        if torch.is_tensor(outputs):
            non_grad_outputs = [outputs] if not outputs.is_floating_point() else []
        else:
            non_grad_outputs = [o for o in outputs if torch.is_tensor(o) and not o.is_floating_point()]
        ctx.mark_non_differentiable(*non_grad_outputs)
        if torch.is_tensor(outputs):
            all_outputs += [outputs]
            return outputs
        all_outputs += outputs
        outputs, _, _ = extract_tensors(all_objects=outputs)
        return tuple(outputs)

    @staticmethod
    def backward(ctx, *grads):
        see_memory_usage("In backward", force=False)
        see_memory_usage("In backward checkpointing code", force=False)
        if not torch.autograd._is_checkpoint_valid():
            raise RuntimeError("Checkpointing is not compatible with .grad()")
        inputs = ctx.saved_tensors
        detached_inputs = detach_variable(inputs)
        detached_inputs = merge_tensors(tensor_objects=detached_inputs, non_tensor_objects=ctx.non_tensor_args,
                                        tensor_flags=ctx.tensor_flags)
        bwd_cpu_rng_state = torch.get_rng_state()
        bwd_cuda_rng_state = cuda_get_rng_state()
        bwd_cuda_rng_state_tracker = get_cuda_rng_tracker().get_states()
        torch.set_rng_state(ctx.fwd_cpu_rng_state)
        _set_cuda_rng_state(ctx.fwd_cuda_rng_state)
        get_cuda_rng_tracker().set_states(ctx.fwd_cuda_rng_state_tracker)
        see_memory_usage("In backward checkpointing code before forward", force=False)
        with torch.enable_grad():
            outputs = ctx.run_function(*detached_inputs)
        see_memory_usage("In backward checkpointing code after forward", force=False)
        torch.set_rng_state(bwd_cpu_rng_state)
        _set_cuda_rng_state(bwd_cuda_rng_state)
        get_cuda_rng_tracker().set_states(bwd_cuda_rng_state_tracker)
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        outputs, _, _ = extract_tensors(all_objects=outputs)
        output_tensors, grad_tensors = [], []
        for out, grad in zip(outputs, grads):
            if out.requires_grad:
                output_tensors.append(out)
                grad_tensors.append(grad)
        see_memory_usage("In backward checkpointing code before backward", force=False)
        torch.autograd.backward(output_tensors, grad_tensors)
        see_memory_usage("After backward checkpointing code after backward", force=False)
        ret_list = [None, None]
        for inp in detached_inputs:
            ret_list.append(inp.grad if torch.is_tensor(inp) else None)
        return tuple(ret_list)


def deepspeed_checkpoint(function, *args):
    all_outputs = []
    DeepSpeedCheckpointFunction.apply(function, all_outputs, *args)
    return all_outputs[0] if len(all_outputs) == 1 else tuple(all_outputs)


class MegatronCheckpointFunction(torch.autograd.Function):
    """mpu/random.py CheckpointFunction (Megatron-LM's own, without distributed activations)."""
    @staticmethod
    def forward(ctx, run_function, distribute_saved_activations, *args):
        ctx.run_function = run_function
        ctx.distribute_saved_activations = distribute_saved_activations
        ctx.fwd_cpu_rng_state = torch.get_rng_state()
        ctx.fwd_cuda_rng_state = cuda_get_rng_state()
        ctx.fwd_cuda_rng_state_tracker = get_cuda_rng_tracker().get_states()
        with torch.no_grad():
            outputs = run_function(*args)
        ctx.save_for_backward(*args)
        return outputs

    @staticmethod
    def backward(ctx, *args):
        if not torch.autograd._is_checkpoint_valid():
            raise RuntimeError("Checkpointing is not compatible with .grad()")
        inputs = ctx.saved_tensors
        bwd_cpu_rng_state = torch.get_rng_state()
        bwd_cuda_rng_state = cuda_get_rng_state()
        bwd_cuda_rng_state_tracker = get_cuda_rng_tracker().get_states()
        torch.set_rng_state(ctx.fwd_cpu_rng_state)
        _set_cuda_rng_state(ctx.fwd_cuda_rng_state)
        get_cuda_rng_tracker().set_states(ctx.fwd_cuda_rng_state_tracker)
        detached_inputs = detach_variable(inputs)
        with torch.enable_grad():
            outputs = ctx.run_function(*detached_inputs)
        torch.set_rng_state(bwd_cpu_rng_state)
        _set_cuda_rng_state(bwd_cuda_rng_state)
        get_cuda_rng_tracker().set_states(bwd_cuda_rng_state_tracker)
        if isinstance(outputs, torch.Tensor):
            outputs = (outputs,)
        torch.autograd.backward(outputs, args)
        grads = tuple(inp.grad if isinstance(inp, torch.Tensor) else inp for inp in detached_inputs)
        return (None, None) + grads


def megatron_checkpoint(function, *args):
    return MegatronCheckpointFunction.apply(function, False, *args)


def split_tensor_along_last_dim(tensor, num_partitions, contiguous_split_chunks=False):
    last_dim = tensor.dim() - 1
    last_dim_size = tensor.size()[last_dim] // num_partitions
    tensor_list = torch.split(tensor, last_dim_size, dim=last_dim)
    if contiguous_split_chunks:
        return tuple(chunk.contiguous() for chunk in tensor_list)
    return tensor_list


class ParallelAttention(torch.nn.Module):
    def __init__(self, h, heads):
        super().__init__()
        self.hidden_size_per_partition = h
        self.num_attention_heads_per_partition = heads
        self.hidden_size_per_attention_head = h // heads
        self.query_key_value = ColumnParallelLinear(h, 3 * h, skip_bias_add=False)
        self.norm_factor = math.sqrt(self.hidden_size_per_attention_head)
        self.scale_mask_softmax = FusedScaleMaskSoftmax()
        self.attention_dropout = Dropout(0.1)
        self.dense = RowParallelLinear(h, h)

    def forward(self, hidden_states, attention_mask):
        mixed_x_layer, _ = self.query_key_value(hidden_states)
        new_tensor_shape = mixed_x_layer.size()[:-1] + (self.num_attention_heads_per_partition,
                                                        3 * self.hidden_size_per_attention_head)
        mixed_x_layer = mixed_x_layer.view(*new_tensor_shape)
        (query_layer, key_layer, value_layer) = split_tensor_along_last_dim(mixed_x_layer, 3)
        output_size = (query_layer.size(1), query_layer.size(2), query_layer.size(0), key_layer.size(0))
        query_layer = query_layer.view(output_size[2], output_size[0] * output_size[1], -1)
        key_layer = key_layer.view(output_size[3], output_size[0] * output_size[1], -1)
        matmul_result = torch.empty(output_size[0] * output_size[1], output_size[2], output_size[3],
                                    dtype=query_layer.dtype, device=_current_device_name())
        matmul_result = torch.baddbmm(matmul_result, query_layer.transpose(0, 1),
                                      key_layer.transpose(0, 1).transpose(1, 2),
                                      beta=0.0, alpha=(1.0 / self.norm_factor))
        attention_scores = matmul_result.view(*output_size)
        attention_probs = self.scale_mask_softmax(attention_scores, attention_mask)
        with get_cuda_rng_tracker().fork():
            attention_probs = self.attention_dropout(attention_probs)
        output_size = (value_layer.size(1), value_layer.size(2), query_layer.size(0), value_layer.size(3))
        value_layer = value_layer.view(value_layer.size(0), output_size[0] * output_size[1], -1)
        attention_probs = attention_probs.view(output_size[0] * output_size[1], output_size[2], -1)
        context_layer = torch.bmm(attention_probs, value_layer.transpose(0, 1))
        context_layer = context_layer.view(*output_size)
        context_layer = context_layer.permute(2, 0, 1, 3).contiguous()
        new_context_layer_shape = context_layer.size()[:-2] + (self.hidden_size_per_partition,)
        context_layer = context_layer.view(*new_context_layer_shape)
        output, bias = self.dense(context_layer)
        return output, bias


class ParallelMLP(torch.nn.Module):
    def __init__(self, h):
        super().__init__()
        self.dense_h_to_4h = ColumnParallelLinear(h, 4 * h, skip_bias_add=True)
        self.dense_4h_to_h = RowParallelLinear(4 * h, h)

    def forward(self, hidden_states):
        intermediate_parallel, bias_parallel = self.dense_h_to_4h(hidden_states)
        intermediate_parallel = GeLUFunction.apply(intermediate_parallel, bias_parallel)
        output, output_bias = self.dense_4h_to_h(intermediate_parallel)
        return output, output_bias


class TransformerLayer(torch.nn.Module):
    """ParallelTransformerLayer (dense, pre-LayerNorm, bias-dropout-add fusion). Megatron-DeepSpeed's
    adds the MoE plumbing even to dense layers: two scalar tensors made per forward, and a second
    output (the MoE loss); Megatron-LM's returns the hidden states alone."""
    def __init__(self, h, heads, moe_plumbing):
        super().__init__()
        self.moe_plumbing = moe_plumbing
        self.input_layernorm = MixedFusedLayerNorm(h)
        self.self_attention = ParallelAttention(h, heads)
        self.hidden_dropout = 0.1
        self.post_attention_layernorm = MixedFusedLayerNorm(h)
        self.mlp = ParallelMLP(h)

    def forward(self, hidden_states, attention_mask):
        layernorm_output = self.input_layernorm(hidden_states)
        attention_output, attention_bias = self.self_attention(layernorm_output, attention_mask)
        residual = hidden_states
        with torch.enable_grad():
            layernorm_input = bias_dropout_add_fused_train(attention_output, attention_bias.expand_as(residual),
                                                           residual, self.hidden_dropout)
        layernorm_output = self.post_attention_layernorm(layernorm_input)
        moe_loss = None
        if self.moe_plumbing:
            moe_loss = torch.tensor(0.0, device=layernorm_output.device, dtype=layernorm_output.dtype)
            mlp_bias = torch.tensor(0.0, device=layernorm_output.device, dtype=layernorm_output.dtype)
        mlp_output, mlp_bias = self.mlp(layernorm_output)
        residual = layernorm_input
        with torch.enable_grad():
            output = bias_dropout_add_fused_train(mlp_output, mlp_bias.expand_as(residual), residual,
                                                  self.hidden_dropout)
        return (output, moe_loss) if self.moe_plumbing else output


class VocabParallelCrossEntropy(torch.autograd.Function):
    """mpu/cross_entropy.py: the partition bookkeeping, and its three all-reduces over the
    tensor-parallel group (called at any TP; on a CPU alone they are left out)."""
    @staticmethod
    def forward(ctx, vocab_parallel_logits, target):
        logits_max = torch.max(vocab_parallel_logits, dim=-1)[0]
        if collectives_on():
            torch.distributed.all_reduce(logits_max, op=torch.distributed.ReduceOp.MAX,
                                         group=get_tensor_model_parallel_group())
        vocab_parallel_logits.sub_(logits_max.unsqueeze(dim=-1))
        partition_vocab_size = vocab_parallel_logits.size()[-1]
        rank = 0
        get_tensor_model_parallel_world_size()  # looked up as the real code does (for its all-reduces)
        vocab_start_index, vocab_end_index = rank * partition_vocab_size, (rank + 1) * partition_vocab_size
        target_mask = (target < vocab_start_index) | (target >= vocab_end_index)
        masked_target = target.clone() - vocab_start_index
        masked_target[target_mask] = 0
        logits_2d = vocab_parallel_logits.view(-1, partition_vocab_size)
        masked_target_1d = masked_target.view(-1)
        arange_1d = torch.arange(start=0, end=logits_2d.size()[0], device=logits_2d.device)
        predicted_logits_1d = logits_2d[arange_1d, masked_target_1d]
        predicted_logits_1d = predicted_logits_1d.clone().contiguous()
        predicted_logits = predicted_logits_1d.view_as(target)
        predicted_logits[target_mask] = 0.0
        if collectives_on():
            torch.distributed.all_reduce(predicted_logits, op=torch.distributed.ReduceOp.SUM,
                                         group=get_tensor_model_parallel_group())
        exp_logits = vocab_parallel_logits
        torch.exp(vocab_parallel_logits, out=exp_logits)
        sum_exp_logits = exp_logits.sum(dim=-1)
        if collectives_on():
            torch.distributed.all_reduce(sum_exp_logits, op=torch.distributed.ReduceOp.SUM,
                                         group=get_tensor_model_parallel_group())
        loss = torch.log(sum_exp_logits) - predicted_logits
        exp_logits.div_(sum_exp_logits.unsqueeze(dim=-1))
        ctx.save_for_backward(exp_logits, target_mask, masked_target_1d)
        return loss

    @staticmethod
    def backward(ctx, grad_output):
        softmax, target_mask, masked_target_1d = ctx.saved_tensors
        grad_input = softmax
        partition_vocab_size = softmax.size()[-1]
        grad_2d = grad_input.view(-1, partition_vocab_size)
        arange_1d = torch.arange(start=0, end=grad_2d.size()[0], device=grad_2d.device)
        grad_2d[arange_1d, masked_target_1d] -= (1.0 - target_mask.view(-1).float())
        grad_input.mul_(grad_output.unsqueeze(dim=-1))
        return grad_input, None


class VocabParallelEmbedding(torch.nn.Module):
    def __init__(self, vocab, h):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(vocab, h) * 0.02)

    def forward(self, input_):
        output_parallel = F.embedding(input_, self.weight)  # masks only with TP > 1
        return _ReduceFromModelParallelRegion.apply(output_parallel)


class Model(torch.nn.Module):
    def __init__(self, h, heads, layers, vocab, seq, checkpoint, moe_plumbing):
        super().__init__()
        self.word_embeddings = VocabParallelEmbedding(vocab, h)
        self.position_embeddings = torch.nn.Embedding(seq, h)
        self.embedding_dropout = Dropout(0.1)
        self.layers = torch.nn.ModuleList([TransformerLayer(h, heads, moe_plumbing) for _ in range(layers)])
        self.moe_plumbing = moe_plumbing
        self.final_layernorm = MixedFusedLayerNorm(h)
        self.checkpoint = checkpoint

    def embed(self, input_ids, position_ids):
        words_embeddings = self.word_embeddings(input_ids)
        position_embeddings = self.position_embeddings(position_ids)
        embeddings = words_embeddings + position_embeddings
        embeddings = embeddings.transpose(0, 1).contiguous()
        return self.embedding_dropout(embeddings)  # no RNG fork without sequence parallelism

    def run_layers(self, hidden, mask, checkpointed):
        moe_losses = []
        for layer in self.layers:
            out = self.checkpoint(layer, hidden, mask) if checkpointed else layer(hidden, mask)
            if self.moe_plumbing:
                hidden, moe_loss = out
                moe_losses.append(moe_loss)
            else:
                hidden = out
        if self.moe_plumbing:
            hidden = hidden + sum(moe_losses)  # the training step adds the MoE losses to the loss
        return hidden

    def head(self, hidden, labels, loss_mask):
        hidden = self.final_layernorm(hidden)
        input_parallel = _CopyToModelParallelRegion.apply(hidden)
        logits = F.linear(input_parallel, self.word_embeddings.weight)
        logits = logits.transpose(0, 1).contiguous()
        losses = VocabParallelCrossEntropy.apply(logits.float(), labels)
        losses = losses.float()
        loss_mask = loss_mask.view(-1).float()
        loss = torch.sum(losses.view(-1) * loss_mask) / loss_mask.sum()
        averaged = torch.cat([x.clone().detach().view(1) for x in [loss]])
        if collectives_on():  # average_losses_across_data_parallel_group (the one-rank group stands for it too)
            torch.distributed.all_reduce(averaged, group=_WORLD["group"])
        averaged = averaged / 1
        return loss


# ---- The input path of every micro-batch (pretrain_gpt.py get_batch, mpu/data.py broadcast_data,
# utils.py get_ltor_masks_and_position_ids of Megatron-LM and Megatron-DeepSpeed, 2021-2023). Rank 0
# of each tensor-parallel group reads the batch and broadcasts it. Copying the packed sizes back to
# the CPU (`sizes_cuda.cpu()`) makes the host wait until the GPU has run everything queued before it,
# so what follows it runs on an idle GPU: split there.

_MAX_DATA_DIM = 5


def get_tensor_model_parallel_rank():
    return 0


# What the loader's workers make each sample with: numpy, as Megatron's GPTDataset does, or torch
# where numpy is not installed (a lent GPU machine may hold a torch wheel alone). The same seq + 1
# int64 tokens either way, collated into the same batch tensor; the tools write which ran. Looked
# up, not imported: numpy's import is the workers' side, not the training process's.
LOADER_SAMPLES = "numpy" if importlib.util.find_spec("numpy") is not None else "torch (no numpy)"


class GPTSamples(torch.utils.data.Dataset):
    """Megatron's GPTDataset hands the loader {'text': int64 array of seq + 1 tokens} per sample."""

    def __init__(self, seq, vocab, n=1 << 20):
        self.seq, self.vocab, self.n = seq, vocab, n

    def __len__(self):
        return self.n

    def __getitem__(self, idx):
        if LOADER_SAMPLES != "numpy":  # no numpy here: a tensor of the same tokens
            return {"text": torch.full((self.seq + 1,), idx % self.vocab, dtype=torch.int64)}
        import numpy as np  # the workers' side; its cost is not on the training process
        return {"text": np.full(self.seq + 1, idx % self.vocab, dtype=np.int64)}


def data_iterator(seq, vocab, micro_batch, workers=2):
    """Megatron's loader: a batch sampler of micro-batch samples, `--num-workers` 2 by default,
    pin_memory=True (on a GPU; it needs CUDA)."""
    sampler = torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(range(1 << 20)), micro_batch, False)
    loader = torch.utils.data.DataLoader(GPTSamples(seq, vocab), batch_sampler=sampler, num_workers=workers,
                                         pin_memory=on_gpu())
    return iter(loader)


def _cuda_long_tensor(values):
    """torch.cuda.LongTensor(values), as the code of the time wrote it; a PyTorch without the legacy
    constructor makes the same pageable copy with torch.tensor."""
    legacy = getattr(torch.cuda, "LongTensor", None)
    try:
        return legacy(values)
    except (TypeError, RuntimeError):
        return torch.tensor(values, dtype=torch.long, device="cuda")


def broadcast_sizes(keys, data):
    """broadcast_data up to the wait: pack the sizes, copy them to the device, broadcast (on a CPU
    alone the copy is a CPU tensor and the broadcast is left out)."""
    sizes = [0 for _ in range(_MAX_DATA_DIM) for _ in keys]
    if get_tensor_model_parallel_rank() == 0:
        offset = 0
        for key in keys:
            assert data[key].dim() < _MAX_DATA_DIM, "you should increase MAX_DATA_DIM"
            size = data[key].size()
            for i, s in enumerate(size):
                sizes[i + offset] = s
            offset += _MAX_DATA_DIM
    # torch.cuda.LongTensor(sizes): a copy from pageable memory to the device (the host waits here too)
    sizes_cuda = _cuda_long_tensor(sizes) if on_gpu() else torch.LongTensor(sizes)
    if collectives_on():
        torch.distributed.broadcast(sizes_cuda, 0, group=get_tensor_model_parallel_group())
    return sizes_cuda


def broadcast_rest(keys, data, datatype, sizes_cpu):
    """broadcast_data after the sizes came back: unpack them element by element (each index of a CPU
    tensor is a tensor), check the types, flatten and copy the data to the device (a second wait),
    broadcast it (left out) and cut it into views."""
    key_size, key_numel, total_numel = {}, {}, 0
    offset = 0
    for key in keys:
        i, size, numel = 0, [], 1
        while sizes_cpu[offset + i] > 0:
            this_size = sizes_cpu[offset + i]
            size.append(this_size)
            numel *= this_size
            i += 1
        key_size[key], key_numel[key] = size, numel
        total_numel += numel
        offset += _MAX_DATA_DIM
    if get_tensor_model_parallel_rank() == 0:
        for key in keys:
            assert data[key].dtype == datatype
        flatten_data = torch.cat([data[key].contiguous().view(-1) for key in keys], dim=0)
        if on_gpu():
            flatten_data = flatten_data.cuda()
    else:
        flatten_data = torch.empty(total_numel, dtype=datatype, device=_current_device_name())
    if collectives_on():
        torch.distributed.broadcast(flatten_data, 0, group=get_tensor_model_parallel_group())
    output, offset = {}, 0
    for key in keys:
        numel = key_numel[key]
        output[key] = flatten_data.narrow(0, offset, numel).view(key_size[key])
        offset += numel
    return output


def get_ltor_masks_and_position_ids(data, eod_token):
    """Causal mask, loss mask and position ids, with the reset and EOD-masking options off (the
    defaults)."""
    micro_batch_size, seq_length = data.size()
    att_mask_batch = 1
    attention_mask = torch.tril(torch.ones((att_mask_batch, seq_length, seq_length), device=data.device)).view(
        att_mask_batch, 1, seq_length, seq_length)
    loss_mask = torch.ones(data.size(), dtype=torch.float, device=data.device)
    position_ids = torch.arange(seq_length, dtype=torch.long, device=data.device)
    position_ids = position_ids.unsqueeze(0).expand_as(data)
    attention_mask = (attention_mask < 0.5)
    return attention_mask, loss_mask, position_ids


def get_batch_after_sync(data, sizes_cpu, eod_token=0):
    keys, datatype = ["text"], torch.int64
    data_b = broadcast_rest(keys, data, datatype, sizes_cpu)
    tokens_ = data_b["text"].long()
    labels = tokens_[:, 1:].contiguous()
    tokens = tokens_[:, :-1].contiguous()
    attention_mask, loss_mask, position_ids = get_ltor_masks_and_position_ids(tokens, eod_token)
    return tokens, labels, loss_mask, attention_mask, position_ids


def add_grad_hooks(params):
    """Megatron-LM's local DDP: each parameter's gradient is added to its main_grad, then freed."""
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


# The two stacks: Megatron-DeepSpeed under DeepSpeed's engine (its activation checkpointing, which
# the pipeline model uses whatever the flags, and no per-parameter hook at ZeRO 0 and 1 without
# overlap_comm), and Megatron-LM (its own checkpointing, local DDP hooks).
STACKS = {
    "megatron-deepspeed": {
        "checkpoint": deepspeed_checkpoint, "hooks": False, "moe_plumbing": True, "gpu_waits_per_layer_forward": 2,
        "text": "Megatron-DeepSpeed GPT layer (megatron/mpu code, 2022 to mid-2023) under DeepSpeed's engine "
                "(its activation checkpointing; ZeRO 0/1 without overlap_comm: no gradient hooks), eager PyTorch, fp16 or bf16"},
    "megatron-lm": {
        "checkpoint": megatron_checkpoint, "hooks": True, "moe_plumbing": False, "gpu_waits_per_layer_forward": 0,
        "text": "Megatron-LM GPT layer (2021-2022 code), its own activation checkpointing and local DDP "
                "main-gradient hooks, eager PyTorch, fp16 or bf16"},
}
