"""Training many classification models of one architecture as one batched computation.

``train_batched(task, specs, data, dataset, checkpoints)`` returns, for every spec, the records that
``Classification.train(spec, data, dataset, checkpoints)`` returns (the kept checkpoints, then the
final model: same model ids, metrics, state-dict keys and shapes, divergence), but trains the specs
of a batch together. The M models of a batch are stacked on a leading model axis:

- MLPs: every linear layer is one ``torch.baddbmm`` on (M, out, in) weights, forward and backward
  written out (:func:`mlp_loss_and_grad`: autograd's math, the same ATen derivative kernels,
  without autograd's bookkeeping);
- convnets (1-D and 2-D, plain or residual, with or without BatchNorm): every convolution is one
  grouped convolution (``groups=M`` over ``M * width`` channels, images channels-last), BatchNorm
  over those channels computes each model's batch statistics and updates its running statistics
  on its own channels only, the head is a ``baddbmm``; autograd differentiates (:func:`stacked_apply`).

One functional Adam or SGD step with per-model hyperparameters (:func:`adam_step_`, :func:`sgd_step_`:
operation for operation torch's single-tensor CPU path, bit-identical to ``torch.optim`` given the
same gradients) then updates all models at once, with per-model step counts; an inactive model's
parameters and optimizer state do not change.

Each model keeps, exactly as when it is trained alone: its initialisation
(``torch.manual_seed(seed); build_model(arch)``), its training subset and label noise
(``training_set``), its data order (one ``torch.randperm`` per epoch from its own generator seeded
by ``seed``), its learning rate, weight decay, momentum, epochs and checkpoints, and its divergence
stop (a non-finite loss stops that model only: no step is taken and its run is marked diverged).
Metrics are measured by the per-model module with the model's slice of the stacked weights loaded
(``Classification._record``), so they are computed exactly as for a model trained alone.

Which specs share a batch is :func:`batch_key`. Inside one batch these are equal: the architecture
spec (name, input shape, classes, width, depth, activation, residual, norm) and the optimizer.
These may differ: ``seed``, ``lr``, ``weight_decay``, ``momentum`` (SGD), ``epochs``,
``label_noise``, and ``batch_size`` and ``train_fraction`` too, except for convnets with BatchNorm
(``norm: true``). A model whose minibatch is smaller than the batch's largest at a step is padded
(padded rows repeat one of its own samples of that step and weigh 0 in its loss); a model whose
own schedule has ended (fewer steps per epoch, fewer epochs) or that diverged is idle: it takes no
step, and its parameters, optimizer state and running statistics do not change (models are sorted
longest schedule first, and an MLP step computes only the models up to the last one taking it).
BatchNorm's batch statistics would see padding, so a convnet with ``norm: true`` shares a batch
only with equal ``batch_size`` and an equal training-set size (then no step is padded).

What is not bit-exact: the batched kernels (batched products, grouped convolutions, the masked
mean of the loss) sum in another order than the per-model ones, so weights agree with those of
``Classification.train`` to float tolerance (after 2 epochs typically within 1e-6), and a model
depends on the other models of its batch only through that rounding. Training can amplify
rounding: Adam turns noise in a gradient component near zero into steps of up to ~lr, and
BatchNorm on channels-last activations sums in yet another order (``train_batched``'s
``exact_batchnorm`` trades that speed for contiguous BatchNorm). tests/test_batched_training.py
states the tolerances. The same specs in the same batches at the same thread count give
bit-identical results.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from benchmark.data import Split
from benchmark.models import build_model
from benchmark.models.base import architecture_spec
from benchmark.models.convnet import ConvBlock
from benchmark.records import ModelRecord
from benchmark.zoo.base import Task
from benchmark.zoo.classification import OPTIMIZERS, Classification, optimizer_settings, training_indices
from benchmark.zoo.spec import ModelSpec

VERSION = "1"
"""Code version of batched training: joins the store key of every model trained in a batch (the
models trained alone are versioned by their task)."""
ROWS, CHANNELS = "rows", "channels"
LAYOUTS = {"mlp": ROWS, "convnet": CHANNELS}
"""Batchable architectures -> how a batch's activations are laid out: ``rows`` is (M, B, ...), each
model's minibatch in its own row (linear layers as ``baddbmm``); ``channels`` is (B, M * C, ...),
the models side by side on the channel axis (convolutions grouped by model)."""
MAX_MODELS = 64
"""Largest batch :func:`train_batched` forms; a larger compatibility class is split in order."""
SUPPORTED = {
    "adam": {
        "amsgrad": False,
        "maximize": False,
        "decoupled_weight_decay": False,
        "differentiable": False,
        "capturable": False,
    },
    "sgd": {"dampening": 0, "nesterov": False, "maximize": False, "differentiable": False},
}
"""Optimizer options :func:`adam_step_` / :func:`sgd_step_` implement (the torch defaults)."""


# ----------------------------------------------------------------------------- compatibility


def _frozen(value: Any) -> Any:
    """``value`` with lists and dicts turned into tuples, so that it can be part of a dict key."""
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def has_batch_statistics(arch: dict[str, Any]) -> bool:
    """Whether the built model normalises by batch statistics (a convnet with BatchNorm)."""
    return arch["name"] == "convnet" and bool(arch.get("norm", True))


def unbatchable(spec: ModelSpec, data: Any) -> str | None:
    """Why ``spec`` cannot be trained in a batch on ``data``, or None when it can."""
    if not isinstance(data, Split):
        return f"its data is {type(data).__name__}, not a classification Split (the task is not classification)"
    if spec.architecture not in LAYOUTS:
        return f"architecture {spec.architecture!r} has no batched form (batched: {sorted(LAYOUTS)})"
    optimizer = spec.hparams.get("optimizer", "adam")
    if optimizer not in OPTIMIZERS:
        return f"optimizer {optimizer!r} is unknown (Classification.train reports it)"
    return None


def batch_key(spec: ModelSpec, data: Any) -> tuple | None:
    """The key under which ``spec`` may share a batch with other specs on ``data``; None when it
    cannot be batched (:func:`unbatchable` says why: ``Classification.train`` then trains it, or
    reports what is wrong).

    The key holds the architecture spec and the optimizer; for a convnet with BatchNorm also the
    batch size and the training-set size (see the module docstring for why).
    """
    if unbatchable(spec, data) is not None:
        return None
    hp = spec.hparams
    arch = architecture_spec(spec.architecture, data.input_shape, data.n_classes, hp)
    key: tuple = ("classification", _frozen(arch), hp.get("optimizer", "adam"))
    if has_batch_statistics(arch):
        keep, _ = training_indices(data, hp.get("label_noise", 0.0), hp.get("train_fraction", 1.0), spec.seed)
        key += (("batch_size", int(hp["batch_size"])), ("n_train", len(keep)))
    return key


def plan_batches(
    specs: Sequence[ModelSpec], data: Any, max_models: int = MAX_MODELS
) -> list[tuple[tuple | None, tuple[int, ...]]]:
    """``(key, spec indices)`` of each batch: specs with equal :func:`batch_key`, in order of first
    appearance, in chunks of at most ``max_models``; a spec whose key is None is a batch of its own."""
    if max_models < 1:
        raise ValueError(f"max_models={max_models} must be >= 1 (the largest batch trained together).")
    classes: dict[Any, list[int]] = {}
    for i, spec in enumerate(specs):
        key = batch_key(spec, data)
        classes.setdefault(("alone", i) if key is None else key, []).append(i)
    batches = []
    for key, members in classes.items():
        real = None if key[0] == "alone" else key
        batches += [(real, tuple(members[j : j + max_models])) for j in range(0, len(members), max_models)]
    return batches


def trains_like_classification(task: Task) -> bool:
    """Whether ``task`` trains and records as :class:`Classification` does (a subclass that
    overrides either is trained one model at a time)."""
    cls = type(task)
    return (
        isinstance(task, Classification) and cls.train is Classification.train and cls._record is Classification._record
    )


# ----------------------------------------------------------------------------- stacked weights


@dataclass(frozen=True)
class Slot:
    """Where one parameter of the per-model module lives in the stacked (M, P) parameter matrix:
    columns ``start:stop`` of every row, shaped ``shape``."""

    name: str
    shape: tuple[int, ...]
    start: int
    stop: int


def parameter_slots(module: nn.Module) -> tuple[Slot, ...]:
    """One :class:`Slot` per parameter of ``module``, in ``named_parameters`` order, packed."""
    slots, start = [], 0
    for name, p in module.named_parameters():
        slots.append(Slot(name, tuple(p.shape), start, start + p.numel()))
        start += p.numel()
    return tuple(slots)


def stack_parameters(modules: Sequence[nn.Module], slots: Sequence[Slot]) -> torch.Tensor:
    """(M, P): row ``i`` holds the parameters of ``modules[i]`` flattened in ``slots`` order."""
    rows = []
    for module in modules:
        params = dict(module.named_parameters())
        rows.append(torch.cat([params[s.name].detach().reshape(-1) for s in slots]))
    return torch.stack(rows)


def stack_buffers(modules: Sequence[nn.Module]) -> dict[str, torch.Tensor]:
    """Each buffer (running statistics, ``num_batches_tracked``) of the modules, stacked: (M, *shape)."""
    names = [name for name, _ in modules[0].named_buffers()]
    return {name: torch.stack([dict(m.named_buffers())[name].detach() for m in modules]) for name in names}


def parameter_major(n_models: int, slots: Sequence[Slot]) -> torch.Tensor:
    """Where each element of the parameter-major copy of an (M, P) parameter matrix comes from: the
    copy holds each parameter of all models as one contiguous (M, *shape) block, so that the
    batched layers take free views of it (``(M * out, in, k)`` for a grouped convolution); entry
    ``j`` is the index into the flattened (M, P) matrix of element ``j`` of the copy."""
    P = slots[-1].stop if slots else 0
    rows = torch.arange(n_models)[:, None] * P
    return torch.cat([(rows + torch.arange(s.start, s.stop)[None, :]).reshape(-1) for s in slots])


def parameter_views(
    blocks: torch.Tensor, n_models: int, slots: Sequence[Slot], grad: bool = True
) -> dict[str, torch.Tensor]:
    """Each parameter of all models as an (M, *shape) view of the parameter-major ``blocks``; with
    ``grad``, detached and requiring grad (the leaves every training step differentiates)."""
    views, start = {}, 0
    for s in slots:
        n = n_models * (s.stop - s.start)
        view = blocks[start : start + n].view(n_models, *s.shape)
        views[s.name] = view.detach().requires_grad_() if grad else view
        start += n
    return views


def member_state(
    flat: torch.Tensor, buffers: dict[str, torch.Tensor], slots: Sequence[Slot], i: int
) -> dict[str, torch.Tensor]:
    """The ``state_dict`` entries of model ``i`` of a batch (parameters and buffers)."""
    state = {s.name: flat[i, s.start : s.stop].view(s.shape) for s in slots}
    return {**state, **{name: b[i] for name, b in buffers.items()}}


# ----------------------------------------------------------------------------- batched forward


@dataclass(frozen=True)
class Stacked:
    """The weights one batched forward reads: parameters (M, *shape) and buffers (M, *shape); with
    ``exact_batchnorm``, BatchNorm runs on contiguous (N, C, H, W) activations, as one model's
    does, instead of channels-last ones (see :func:`train_batched`)."""

    params: dict[str, torch.Tensor]
    buffers: dict[str, torch.Tensor]
    n_models: int
    exact_batchnorm: bool = False


def _need(layout: str, want: str, module: nn.Module) -> None:
    if layout != want:
        raise TypeError(
            f"batched training: {type(module).__name__} met activations laid out as {layout!r}, not {want!r}; "
            f"this architecture cannot be batched, train it with Classification.train."
        )


def _channels_last(grad: torch.Tensor) -> torch.Tensor:
    return grad.contiguous(memory_format=torch.channels_last)


def stacked_apply(module: nn.Module, name: str, h: torch.Tensor, layout: str, w: Stacked) -> tuple[torch.Tensor, str]:
    """``module`` (named ``name`` in the model, ``""`` for the model itself) applied to the batched
    activations ``h`` of all M models in training mode; returns the output and its layout.

    Knows the layers of ``benchmark.models.mlp`` and ``benchmark.models.convnet``; any other layer
    raises a ``TypeError`` naming it.
    """
    prefix = f"{name}." if name else ""
    M = w.n_models
    if isinstance(module, nn.Sequential):
        for child, sub in module.named_children():
            h, layout = stacked_apply(sub, prefix + child, h, layout, w)
        return h, layout
    if isinstance(module, ConvBlock):
        out, _ = stacked_apply(module.conv, prefix + "conv", h, layout, w)
        out, _ = stacked_apply(module.norm, prefix + "norm", out, layout, w)
        return module.act(out + h if module.residual else out), layout
    if isinstance(module, (nn.ReLU, nn.Tanh, nn.GELU, nn.Identity)):
        return module(h), layout  # elementwise: the layout does not matter
    if isinstance(module, nn.Flatten):
        if (module.start_dim, module.end_dim) != (1, -1):
            raise TypeError(f"batched training: Flatten({module.start_dim}, {module.end_dim}) is not supported.")
        if layout == ROWS:
            return h.flatten(2), ROWS
        return h.reshape(h.shape[0], M, -1).transpose(0, 1), ROWS  # (B, M*C, ...) -> (M, B, C*...)
    if isinstance(module, nn.Linear):
        _need(layout, ROWS, module)
        weight, bias = w.params[prefix + "weight"], w.params.get(prefix + "bias")
        if bias is None:
            return torch.bmm(h, weight.transpose(1, 2)), ROWS
        return torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2)), ROWS
    if isinstance(module, (nn.Conv1d, nn.Conv2d)):
        _need(layout, CHANNELS, module)
        if module.padding_mode != "zeros":
            raise TypeError(f"batched training: Conv padding_mode={module.padding_mode!r} is not supported.")
        weight, bias = w.params[prefix + "weight"], w.params.get(prefix + "bias")
        conv = F.conv1d if isinstance(module, nn.Conv1d) else F.conv2d
        out = conv(
            h,
            weight.reshape(M * weight.shape[1], *weight.shape[2:]),
            None if bias is None else bias.reshape(-1),
            module.stride,
            module.padding,
            module.dilation,
            module.groups * M,
        )
        return out, CHANNELS
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        _need(layout, CHANNELS, module)
        if not (module.affine and module.track_running_stats and module.momentum is not None):
            raise TypeError("batched training: BatchNorm needs affine=True, running stats and a momentum.")
        exact = w.exact_batchnorm and h.dim() == 4
        out = F.batch_norm(
            h.contiguous() if exact else h,
            w.buffers[prefix + "running_mean"].view(-1),
            w.buffers[prefix + "running_var"].view(-1),
            w.params[prefix + "weight"].reshape(-1),
            w.params[prefix + "bias"].reshape(-1),
            True,
            module.momentum,
            module.eps,
        )
        if exact:  # back to channels-last for the next convolution
            out = out.contiguous(memory_format=torch.channels_last)
        return out, CHANNELS
    if isinstance(module, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
        _need(layout, CHANNELS, module)
        if h.requires_grad and h.dim() == 4:  # the pool's backward gives a contiguous gradient:
            h.register_hook(_channels_last)  # mixed with channels-last activations, ReLU/BN backward crawl
        return module(h), CHANNELS  # per channel: each model's own channels
    raise TypeError(
        f"batched training does not know layer {type(module).__name__} ({name or 'the model'}); "
        f"train this architecture with Classification.train."
    )


def gather_inputs(x: torch.Tensor, rows: torch.Tensor, layout: str) -> torch.Tensor:
    """The minibatches of all models from the shared inputs ``x`` (n, C, ...) with one
    ``index_select``: ``rows`` is (M, B) row numbers into ``x``; the result is (M, B, C, ...) for
    ``rows`` layout, (B, M * C, ...) for ``channels``."""
    M, B = rows.shape
    if layout == ROWS:
        return x.index_select(0, rows.reshape(-1)).view(M, B, *x.shape[1:])
    out = x.index_select(0, rows.t().reshape(-1)).view(B, M * x.shape[1], *x.shape[2:])
    # images channels-last: grouped convolutions and BatchNorm over M * C channels run much faster
    return out.contiguous(memory_format=torch.channels_last) if out.dim() == 4 else out


def member_losses(logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(M,) mean cross-entropy of each model over its real samples: ``logits`` (M, B, classes),
    ``labels`` (M, B), ``weight`` (M, B) 1 for a real sample and 0 for padding."""
    # classes on the middle axis: log_softmax over a middle axis computes the same as over the last
    # one, many times faster when there are few classes
    ce = F.cross_entropy(logits.transpose(1, 2).contiguous(), labels, reduction="none")
    return (ce * weight).sum(1) / weight.sum(1).clamp(min=1.0)


# ----------------------------------------------------------------------------- MLPs by hand

ACTIVATION_BACKWARD = {
    nn.ReLU: lambda grad, out, pre, act: torch.ops.aten.threshold_backward(grad, out, 0),
    nn.Tanh: lambda grad, out, pre, act: torch.ops.aten.tanh_backward(grad, out),
    nn.GELU: lambda grad, out, pre, act: torch.ops.aten.gelu_backward(grad, pre, approximate=act.approximate),
}
"""Activation type -> its derivative applied to a gradient, the ATen kernels autograd calls for it
(from the activation's output ``out`` or input ``pre``)."""


@dataclass(frozen=True)
class MlpLayer:
    """One linear layer of all M models: (M, out, in) weights and (M, out, 1) biases, and where its
    gradients go, (M, out, in) and (M, out) (views of the batch's parameter and gradient buffers)."""

    weight: torch.Tensor
    bias: torch.Tensor
    grad_weight: torch.Tensor
    grad_bias: torch.Tensor

    def head(self, k: int) -> MlpLayer:
        """The layer of the first ``k`` models."""
        return MlpLayer(self.weight[:k], self.bias[:k], self.grad_weight[:k], self.grad_bias[:k])


def mlp_structure(module: nn.Module) -> tuple[list[str], nn.Module] | None:
    """The names of the Linear layers and the activation of a ``benchmark.models.mlp`` network
    (``Flatten, Linear, act, ..., Linear``), or None when ``module`` is not of that form."""
    children = list(module.named_children()) if isinstance(module, nn.Sequential) else []
    if len(children) < 2 or not isinstance(children[0][1], nn.Flatten):
        return None
    body = children[1:]
    linears, acts = body[0::2], body[1::2]
    if len(linears) != len(acts) + 1 or not all(isinstance(m, nn.Linear) and m.bias is not None for _, m in linears):
        return None
    if not acts or any(type(m) is not type(acts[0][1]) or type(m) not in ACTIVATION_BACKWARD for _, m in acts):
        return None
    if (children[0][1].start_dim, children[0][1].end_dim) != (1, -1):
        return None
    return [name for name, _ in linears], acts[0][1]


def mlp_loss_and_grad(
    layers: Sequence[MlpLayer],
    act: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    weight: torch.Tensor,
    scale: torch.Tensor,
) -> torch.Tensor:
    """Forward and backward of M MLPs by hand, without autograd: returns each model's summed
    log-likelihood of its real samples (M,; finite exactly when its mean cross-entropy is) and
    writes the gradient of its mean cross-entropy into each layer's ``grad_weight`` / ``grad_bias``.

    The math is autograd's for ``cross_entropy(mlp(x), y)`` (the same ATen kernels for the
    activations' derivatives), in an (M, features, B) layout in which every product is one
    ``baddbmm``/``bmm`` and the softmax runs over a middle axis (fast for few classes).
    ``x`` (M, B, D); ``labels`` (M, 1, B); ``weight`` (M, 1, B) 1 real, 0 padding; ``scale``
    (M, 1, B) the weight divided by the model's count of real samples.
    """
    h = x.transpose(1, 2)  # (M, D, B)
    saved = [(h, h)]
    for layer in layers[:-1]:
        pre = torch.baddbmm(layer.bias, layer.weight, h)
        h = act(pre)
        saved.append((h, pre))
    last = layers[-1]
    logp = torch.log_softmax(torch.baddbmm(last.bias, last.weight, h), 1)  # (M, K, B)
    sums = (logp.gather(1, labels) * weight).sum((1, 2))
    grad = logp.exp_().mul_(scale).scatter_add_(1, labels, -scale)  # (softmax - onehot) * scale
    backward = ACTIVATION_BACKWARD[type(act)]
    for i in range(len(layers) - 1, -1, -1):
        layer, (h_in, _) = layers[i], saved[i]
        torch.bmm(grad, h_in.transpose(1, 2), out=layer.grad_weight)
        torch.sum(grad, 2, out=layer.grad_bias)
        if i:
            out, pre = saved[i]
            grad = backward(torch.bmm(layer.weight.transpose(1, 2), grad), out, pre, act)
    return sums


# ----------------------------------------------------------------------------- optimizers

CHUNK = 1 << 16
"""Elements (models x columns) an optimizer pass works on at a time: the stacked (M, P) matrices of
a batch do not fit in cache, one such chunk of each does, so the step's ~10 elementwise passes run
from cache as they do for one model's small tensors."""

Runs = tuple[tuple[int, int, float], ...]
"""Row ranges ``(start, stop, value)`` of equal per-model values (rows sorted so that they form runs)."""


def value_runs(values: Sequence[float]) -> Runs:
    """The runs of equal consecutive ``values``: ``[0, 0, 1e-3] -> ((0, 2, 0.0), (2, 3, 1e-3))``."""
    runs: list[tuple[int, int, float]] = []
    for i, v in enumerate(values):
        if runs and runs[-1][2] == v:
            runs[-1] = (runs[-1][0], i + 1, v)
        else:
            runs.append((i, i + 1, float(v)))
    return tuple(runs)


def clip_runs(runs: Runs, n: int) -> Runs:
    """``runs`` restricted to the first ``n`` rows."""
    return tuple((a, min(b, n), v) for a, b, v in runs if a < n)


def column_chunks(n_models: int, n_columns: int, chunk: int = CHUNK) -> list[slice]:
    """Column ranges of an (n_models, n_columns) matrix of about ``chunk`` elements each."""
    width = max(1, chunk // max(1, n_models))
    return [slice(a, min(a + width, n_columns)) for a in range(0, n_columns, width)]


def adam_bias_corrections(beta1: float, beta2: float, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(1 - beta1**k, (1 - beta2**k) ** 0.5)`` for k = 0..n as float64 tables, computed with Python
    floats as ``torch.optim.Adam`` computes them, so per-model step sizes round as they do there."""
    ks = [float(k) for k in range(n + 1)]
    return (
        torch.tensor([1 - beta1**k for k in ks], dtype=torch.float64),
        torch.tensor([(1 - beta2**k) ** 0.5 for k in ks], dtype=torch.float64),
    )


def adam_step_sizes(
    lr: torch.Tensor, corrections: tuple[torch.Tensor, torch.Tensor]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-model ``-lr / (1 - beta1**k)`` and ``sqrt(1 - beta2**k)`` for every step k, as (M, n + 1)
    float32 tables (look a step up with ``gather``): torch's Adam computes both in Python floats
    and its kernels round them to float32. ``lr`` (M,) float64; ``corrections`` from
    :func:`adam_bias_corrections`."""
    bias1, bias2_sqrt = corrections
    neg_step_size = (-(lr[:, None] / bias1[None, :])).to(torch.float32)
    return neg_step_size, bias2_sqrt.to(torch.float32).expand_as(neg_step_size).contiguous()


def _decay_(grad: torch.Tensor, param: torch.Tensor, decay: Runs) -> None:
    """``grad += weight_decay * param`` per run of rows, as ``grad.add(param, alpha=weight_decay)``
    (skipped where the decay is 0, as torch does)."""
    for a, b, wd in decay:
        if wd != 0:
            grad[a:b].add_(param[a:b], alpha=wd)


def adam_step_(
    param: torch.Tensor,
    grad: torch.Tensor,
    exp_avg: torch.Tensor,
    exp_avg_sq: torch.Tensor,
    neg_step_size: torch.Tensor,
    bias2_sqrt: torch.Tensor,
    decay: Runs,
    betas: tuple[float, float],
    eps: float,
) -> None:
    """One ``torch.optim.Adam`` step (Kingma & Ba 2015; amsgrad off, weight decay as L2 added to the
    gradient) of M models in place, operation for operation as its single-tensor CPU path, so each
    row gets the float32 result torch gives that model alone::

        g = grad + wd * p;  m = m.lerp(g, 1 - b1);  v = v * b2 + (1 - b2) * g * g
        p = p + (-lr / (1 - b1^k)) * m / (sqrt(v) / sqrt(1 - b2^k) + eps)

    ``param``, ``grad`` (overwritten), ``exp_avg``, ``exp_avg_sq``: (M, P) float32 (views are fine);
    ``neg_step_size``, ``bias2_sqrt``: (M, 1), from :func:`adam_step_sizes`; ``decay``: runs of
    rows with their weight decay.
    """
    beta1, beta2 = betas
    _decay_(grad, param, decay)
    exp_avg.lerp_(grad, 1 - beta1)
    exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    denom = exp_avg_sq.sqrt().div_(bias2_sqrt).add_(eps)
    param.add_(exp_avg.mul(neg_step_size).div_(denom))  # addcdiv's order: p + (value * m) / denom


def sgd_step_(
    param: torch.Tensor, grad: torch.Tensor, buf: torch.Tensor, momentum: torch.Tensor, lr: Runs, decay: Runs
) -> None:
    """One ``torch.optim.SGD`` step (dampening 0, not Nesterov, weight decay as L2 added to the
    gradient) of M models in place, operation for operation as its single-tensor CPU path::

        g = grad + wd * p;  b = b * mu + g (b = g at the first step, or without momentum);  p = p - lr * b

    ``momentum`` (M, 1) float32 is 0 for a model at its first step or without momentum (then
    ``b * 0 + g`` is ``g``: ``buf`` starts at 0); ``lr``, ``decay``: runs of rows.
    """
    _decay_(grad, param, decay)
    buf.mul_(momentum).add_(grad)
    for a, b, value in lr:
        param[a:b].add_(buf[a:b], alpha=-value)


# ----------------------------------------------------------------------------- schedules


def minibatch_slots(n: int, batch_size: int, n_steps: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Positions into one epoch's permutation of ``n`` samples cut as ``perm.split(batch_size)``,
    as an (n_steps, width) grid, and which of them are real (the rest is padding).

    A padded position repeats the first sample of its step (past the model's last step: a sample
    of its last one), so padding only ever feeds a model inputs it sees in that epoch anyway.
    """
    step = torch.arange(n_steps)[:, None]
    col = torch.arange(width)[None, :]
    pos = step * batch_size + col
    real = (col < batch_size) & (pos < n)
    first = (step * batch_size).clamp(max=n - 1)
    return torch.where(real, pos, first), real


@dataclass(frozen=True)
class Member:
    """One model of a batch: its spec, its per-model module (initialised as when trained alone), its
    training rows and labels, and its training settings."""

    spec: ModelSpec
    arch: dict[str, Any]
    module: nn.Module
    rows: torch.Tensor  # rows of data.x_train it trains on (sorted), (n,)
    labels: torch.Tensor  # their labels, noise included, (n,)
    optimizer: str
    group: dict[str, Any]  # the param group torch's optimizer builds from its settings
    batch_size: int
    epochs: int
    checkpoints: tuple[int, ...]  # kept epochs before the last

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.rows) / self.batch_size)


def make_member(task: Classification, spec: ModelSpec, data: Split, checkpoints: Sequence[int]) -> Member:
    """Everything ``Classification.train`` sets up for ``spec`` before its first step, in the same
    order (so the same errors are raised for the same bad settings)."""
    hp = spec.hparams
    arch = architecture_spec(spec.architecture, data.input_shape, data.n_classes, hp)
    # the CPU generator torch.manual_seed(seed) seeds, without also queueing the lazy seeding of
    # CUDA/XPU/MTIA generators (which records a stack trace, ~1 ms): the module is built on the CPU,
    # so its initialisation is bit for bit that of Classification.train
    torch.default_generator.manual_seed(spec.seed)
    module = build_model(arch)
    rows, labels = training_indices(data, hp.get("label_noise", 0.0), hp.get("train_fraction", 1.0), spec.seed)
    name, kwargs = optimizer_settings(spec)
    group = dict(OPTIMIZERS[name](module.parameters(), **kwargs).param_groups[0])
    unsupported = {k: group.get(k) for k, v in SUPPORTED[name].items() if group.get(k, v) != v}
    if unsupported:
        raise ValueError(
            f"model {spec.model_id!r}: batched {name} does not implement {unsupported}; "
            f"train it with Classification.train."
        )
    batch_size = int(hp["batch_size"])
    if batch_size < 1:
        raise ValueError(f"model {spec.model_id!r}: batch_size={batch_size} must be >= 1.")
    keep = tuple(task.planned_epochs(hp, checkpoints)[:-1])
    return Member(spec, arch, module, rows, labels, name, group, batch_size, int(hp["epochs"]), keep)


@dataclass(frozen=True)
class EpochPlan:
    """The minibatches of one epoch for every model of a batch: S steps, each ``widths[s]`` wide (the
    largest minibatch any model takes at that step; real samples come first in every row), stored
    padded to the batch's largest batch size W. Per-sample tensors have a unit axis for the classes."""

    rows: torch.Tensor  # (S, M, W) int64 rows of data.x_train
    labels: torch.Tensor  # (S, M, 1, W) int64
    weight: torch.Tensor  # (S, M, 1, W) float32: 1 real sample, 0 padding
    scale: torch.Tensor  # (S, M, 1, W) float32: weight / the model's real samples in the step
    scheduled: torch.Tensor  # (S, M) bool: the model takes this step
    taken: torch.Tensor  # (S, M) int64: optimizer steps the model has taken once it takes this one
    widths: tuple[int, ...]  # (S,) columns step s uses
    prefix: tuple[int, ...]  # (S,) rows up to the last model that takes step s

    @property
    def n_steps(self) -> int:
        return self.rows.shape[0]


def epoch_plan(
    members: Sequence[Member], generators: Sequence[torch.Generator], taking: Sequence[bool], taken: torch.Tensor
) -> EpochPlan:
    """One epoch of minibatches: each model in ``taking`` draws its permutation from its own
    generator (``torch.randperm(n, generator=g)``, as ``Classification.train``) and cuts it into
    its own batch size; a model not taking part is idle throughout. ``taken`` (M,): optimizer steps
    each model has taken before the epoch."""
    width = max(m.batch_size for m in members)
    n_steps = max((m.steps_per_epoch for m, t in zip(members, taking, strict=True) if t), default=0)
    idle = torch.zeros(n_steps, width, dtype=torch.long), torch.zeros(n_steps, width, dtype=torch.bool)
    cuts: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor]] = {}
    rows, labels, real, scheduled = [], [], [], []
    for m, g, t in zip(members, generators, taking, strict=True):
        if t:
            key = (len(m.rows), m.batch_size)
            if key not in cuts:
                cuts[key] = minibatch_slots(*key, n_steps, width)
            pos, used = cuts[key]
            local = torch.randperm(len(m.rows), generator=g)[pos]
            rows.append(m.rows[local])
            labels.append(m.labels[local])
        else:
            pos, used = idle
            rows.append(pos)
            labels.append(pos)
        real.append(used)
        scheduled.append(torch.arange(n_steps) < (m.steps_per_epoch if t else 0))
    weight = torch.stack(real, 1).to(torch.float32).unsqueeze(2)
    counts = weight.sum(3, keepdim=True)
    steps = torch.stack(scheduled, 1)
    return EpochPlan(
        rows=torch.stack(rows, 1),
        labels=torch.stack(labels, 1).unsqueeze(2),
        weight=weight,
        scale=weight / counts.clamp(min=1.0),
        scheduled=steps,
        taken=taken + steps.cumsum(0),
        widths=tuple(int(c) for c in counts.flatten(1).amax(1).tolist()),
        prefix=tuple(int(k) for k in (steps * torch.arange(1, len(members) + 1)).amax(1).tolist()) if n_steps else (),
    )


# ----------------------------------------------------------------------------- training


class BatchedRun:
    """The training of one batch: stacked weights, optimizer state, divergence, snapshots."""

    def __init__(
        self, task: Classification, members: Sequence[Member], data: Split, dataset: str, exact_batchnorm: bool = False
    ) -> None:
        self.task, self.members, self.data, self.dataset = task, list(members), data, dataset
        self.M = M = len(members)
        self.layout = LAYOUTS[members[0].arch["name"]]
        self.norm = has_batch_statistics(members[0].arch)
        self.slots = parameter_slots(members[0].module)
        modules = [m.module for m in members]
        self.flat = stack_parameters(modules, self.slots)  # (M, P), updated in place
        self.buffers = stack_buffers(modules)
        self.stats = [k for k in self.buffers if not k.endswith("num_batches_tracked")]
        self.counters = [k for k in self.buffers if k.endswith("num_batches_tracked")]
        structure = mlp_structure(members[0].module) if self.layout == ROWS else None
        self.layers: list[MlpLayer] = []
        if structure is not None:
            # by hand: parameters as views of the model-major matrix, gradients written into a
            # parameter-major buffer (contiguous blocks: each batched product writes there in one
            # call), then gathered into the model-major gradient the optimizer reads
            names, self.act = structure
            self.grad = torch.zeros_like(self.flat)
            self.grad_blocks = torch.zeros(self.flat.numel())
            self.minor = torch.argsort(parameter_major(M, self.slots))
            p = {s.name: self.flat[:, s.start : s.stop].view(M, *s.shape) for s in self.slots}
            g = parameter_views(self.grad_blocks, M, self.slots, grad=False)
            self.layers = [
                MlpLayer(p[f"{n}.weight"], p[f"{n}.bias"].unsqueeze(2), g[f"{n}.weight"], g[f"{n}.bias"]) for n in names
            ]
            self.heads: dict[int, list[MlpLayer]] = {M: self.layers}
        else:  # autograd: the leaves are views of a parameter-major copy of ``flat``, refreshed after each update
            self.major = parameter_major(M, self.slots)
            self.blocks = self.flat.reshape(-1).index_select(0, self.major)
            self.weights = Stacked(parameter_views(self.blocks, M, self.slots), self.buffers, M, exact_batchnorm)
            self.leaves = list(self.weights.params.values())
        self.optimizer = members[0].optimizer
        groups = [m.group for m in members]
        self.lr = torch.tensor([float(g["lr"]) for g in groups], dtype=torch.float64)
        self.lr_runs = value_runs([float(g["lr"]) for g in groups])
        self.decay = value_runs([float(g["weight_decay"]) for g in groups])
        if self.optimizer == "adam":
            self.betas = (float(groups[0]["betas"][0]), float(groups[0]["betas"][1]))
            self.eps = float(groups[0]["eps"])
            if any(tuple(g["betas"]) != tuple(groups[0]["betas"]) or g["eps"] != self.eps for g in groups):
                raise ValueError("batched adam needs equal betas and eps in one batch; split the batch by them.")
            longest = max(m.epochs * m.steps_per_epoch for m in members)
            self.step_sizes = adam_step_sizes(self.lr, adam_bias_corrections(*self.betas, longest))
            self.state = [torch.zeros_like(self.flat), torch.zeros_like(self.flat)]
        else:
            self.momentum = torch.tensor([float(g["momentum"]) for g in groups], dtype=torch.float64)
            self.state = [torch.zeros_like(self.flat)]
        self.coefficients: list[torch.Tensor] = []  # per-step optimizer coefficients of the epoch, (S, M, 1)
        self.alive = torch.ones(M, dtype=torch.bool)  # not diverged
        self.records: list[list[ModelRecord]] = [[] for _ in members]

    def snapshot(self, i: int, epoch: int) -> None:
        """Record model ``i`` at ``epoch`` through its own module, as ``Classification.train`` does."""
        m = self.members[i]
        state = member_state(self.flat, self.buffers, self.slots, i)
        with torch.no_grad():  # what load_state_dict does, without its bookkeeping
            for name, t in [*m.module.named_parameters(), *m.module.named_buffers()]:
                t.copy_(state[name])
        x, y = self.data.x_train[m.rows], m.labels
        diverged = not bool(self.alive[i])
        self.records[i].append(
            self.task._record(m.spec, m.arch, self.dataset, m.module, self.data, x, y, epoch, diverged)
        )

    def epoch_coefficients(self, plan: EpochPlan) -> None:
        """The optimizer's per-model coefficients for every step of the epoch, from the number of
        steps each model has taken by then: Adam's step sizes and bias corrections, SGD's momentum
        (0 at a model's first step: its buffer starts as the gradient)."""
        if self.optimizer == "adam":
            at = plan.taken.clamp(min=1).t()  # (M, S)
            self.coefficients = [t.gather(1, at).t().unsqueeze(2).contiguous() for t in self.step_sizes]
        else:
            fresh = (plan.taken <= 1) | (self.momentum == 0)
            self.coefficients = [torch.where(fresh, 0.0, self.momentum).to(torch.float32).unsqueeze(2)]

    def step(self, plan: EpochPlan, s: int) -> None:
        """Step ``s`` of an epoch: one forward and backward of the models, one optimizer update of
        those that take the step and whose loss is finite; a non-finite loss marks its model diverged."""
        k = plan.prefix[s] if self.layers else self.M  # rows past k take no step now (rows sorted so)
        active = plan.scheduled[s, :k] & self.alive[:k]
        n_active = int(active.sum())
        if not n_active:
            return
        width = plan.widths[s]  # with equal schedules (BatchNorm batches) no model is padded
        x = gather_inputs(self.data.x_train, plan.rows[s, :k, :width], self.layout)
        labels, weight = plan.labels[s, :k, :, :width], plan.weight[s, :k, :, :width]
        if self.layers:
            if k not in self.heads:
                self.heads[k] = [layer.head(k) for layer in self.layers]
            sums = mlp_loss_and_grad(
                self.heads[k], self.act, x.flatten(2), labels, weight, plan.scale[s, :k, :, :width]
            )
            stepping = active & torch.isfinite(sums)
            n_stepping = int(stepping.sum())
            grad: torch.Tensor | None = None
            if n_stepping:  # rows < k of the model-major gradient
                grad = self.grad[:k]
                torch.index_select(self.grad_blocks, 0, self.minor[: k * self.flat.shape[1]], out=grad.view(-1))
        else:
            saved = [self.buffers[b].clone() for b in self.stats] if self.norm and n_active < self.M else None
            with torch.enable_grad():
                logits, layout = stacked_apply(self.members[0].module, "", x, self.layout, self.weights)
                _need(layout, ROWS, self.members[0].module)
                losses = member_losses(logits, labels[:, 0], weight[:, 0])
                stepping = active & torch.isfinite(losses.detach())
                n_stepping = int(stepping.sum())
                grad = None
                if n_stepping:
                    total = torch.where(stepping, losses, torch.zeros_like(losses)) if n_stepping < self.M else losses
                    grad = torch.cat([g.reshape(self.M, -1) for g in torch.autograd.grad(total.sum(), self.leaves)], 1)
            if saved is not None:  # an idle model did not run: its running statistics stay
                for b, old in zip(self.stats, saved, strict=True):
                    self.buffers[b].copy_(torch.where(active.view(-1, *[1] * (old.dim() - 1)), self.buffers[b], old))
            for b in self.counters:
                self.buffers[b] += active.to(self.buffers[b].dtype)
        if n_stepping < n_active:
            self.alive[:k] &= stepping | ~active
        if grad is not None:
            self.update(s, grad, stepping, n_stepping)

    def update(self, s: int, grad: torch.Tensor, stepping: torch.Tensor, n_stepping: int) -> None:
        """Step ``s``'s optimizer update of the models in ``stepping``, chunk by chunk of columns, on
        the first ``k = len(grad)`` rows (the others are idle); the rows of models that do not step
        are put back as they were (their gradients may not even be finite)."""
        k = grad.shape[0]
        tensors = [t[:k] for t in (self.flat, *self.state)]
        idle = None if n_stepping == k else (~stepping).nonzero()[:, 0]
        saved = [] if idle is None else [t.index_select(0, idle) for t in tensors]
        chunks = column_chunks(k, self.flat.shape[1])
        parts = [[*tensors, grad]] if len(chunks) == 1 else [[t[:, c] for t in (*tensors, grad)] for c in chunks]
        decay = clip_runs(self.decay, k)
        if self.optimizer == "adam":
            neg_step_size, bias2_sqrt = (c[s, :k] for c in self.coefficients)
            for p, m, v, g in parts:
                adam_step_(p, g, m, v, neg_step_size, bias2_sqrt, decay, self.betas, self.eps)
        else:
            momentum, lr = self.coefficients[0][s, :k], clip_runs(self.lr_runs, k)
            for p, buf, g in parts:
                sgd_step_(p, g, buf, momentum, lr, decay)
        for t, old in zip(tensors, saved, strict=False):  # nothing saved when every model steps
            t.index_copy_(0, idle, old)
        if not self.layers:
            torch.index_select(self.flat.reshape(-1), 0, self.major, out=self.blocks)

    def run(self) -> list[list[ModelRecord]]:
        """Train every model for its own epochs; its records: kept checkpoints, then the final model."""
        for i, m in enumerate(self.members):
            if 0 in m.checkpoints:
                self.snapshot(i, 0)
            if m.epochs == 0:
                self.snapshot(i, 0)
        generators = [torch.Generator().manual_seed(m.spec.seed) for m in self.members]
        taken = torch.zeros(self.M, dtype=torch.long)
        for epoch in range(1, max(m.epochs for m in self.members) + 1):
            taking = [m.epochs >= epoch and bool(self.alive[i]) for i, m in enumerate(self.members)]
            if not any(taking):
                break
            plan = epoch_plan(self.members, generators, taking, taken)
            self.epoch_coefficients(plan)
            with torch.no_grad():
                for s in range(plan.n_steps):
                    self.step(plan, s)
            taken = plan.taken[-1] if plan.n_steps else taken
            for i, m in enumerate(self.members):
                if not taking[i]:
                    continue
                if not bool(self.alive[i]):
                    self.snapshot(i, m.epochs)  # the run stops: its final record, marked diverged
                    continue
                if epoch in m.checkpoints:
                    self.snapshot(i, epoch)
                if epoch == m.epochs:
                    self.snapshot(i, epoch)
        return self.records


def train_batch(
    task: Classification,
    specs: Sequence[ModelSpec],
    data: Split,
    dataset: str,
    checkpoints: Sequence[int],
    exact_batchnorm: bool = False,
) -> list[list[ModelRecord]]:
    """Train ``specs``, which must share one non-None :func:`batch_key`, as one batched computation;
    for each spec, what ``task.train(spec, data, dataset, checkpoints)`` returns (to float
    tolerance; ``exact_batchnorm`` as in :func:`train_batched`)."""
    if not specs:
        return []
    keys = [batch_key(s, data) for s in specs]
    if keys[0] is None or any(k != keys[0] for k in keys):
        odd = next(s.model_id for s, k in zip(specs, keys, strict=True) if k is None or k != keys[0])
        raise ValueError(
            f"model {odd!r} cannot share a batch with {specs[0].model_id!r} (batch keys differ or it cannot "
            f"be batched); group specs with plan_batches or call train_batched."
        )
    members = [make_member(task, s, data, checkpoints) for s in specs]
    # rows sorted by schedule, longest first, so that the models taking a step are a prefix of the
    # rows (an MLP step computes only those), then by weight decay and lr, so that equal values
    # form runs, which torch's fused ``add(..., alpha=value)`` steps take a run at a time (results
    # do not depend on the order)
    order = sorted(
        range(len(members)),
        key=lambda i: (
            -members[i].epochs,
            -members[i].steps_per_epoch,
            members[i].group["weight_decay"],
            members[i].group["lr"],
        ),
    )
    records = BatchedRun(task, [members[i] for i in order], data, dataset, exact_batchnorm).run()
    out: list[list[ModelRecord]] = [[] for _ in members]
    for row, i in enumerate(order):
        out[i] = records[row]
    return out


def train_batched(
    task: Task,
    specs: Sequence[ModelSpec],
    data: Any,
    dataset: str,
    checkpoints: Sequence[int],
    max_models: int = MAX_MODELS,
    exact_batchnorm: bool = False,
) -> list[list[ModelRecord]]:
    """For each of ``specs``, what ``task.train(spec, data, dataset, checkpoints)`` returns, with
    the specs of one :func:`batch_key` trained together (batches of at most ``max_models``); a
    spec that cannot be batched, or a task that does not train like :class:`Classification`, is
    trained by ``task.train`` one model at a time.

    Image convnets run channels-last (grouped convolutions over M * width channels are much faster
    so on CPU). BatchNorm then sums its statistics in another order than on one model's contiguous
    activations, and Adam amplifies that rounding in gradients near zero: after 2 epochs a
    BatchNorm convnet's weights differ from ``Classification.train``'s by up to ~lr / 5, as much as
    the same model trained alone with channels-last activations differs from itself. With
    ``exact_batchnorm`` BatchNorm runs on contiguous activations (two copies per layer, about
    as slow as training one at a time on CPU) and the weights stay within ~1e-6.
    """
    if not trains_like_classification(task):
        return [task.train(s, data, dataset, checkpoints) for s in specs]
    out: list[list[ModelRecord]] = [[] for _ in specs]
    for key, batch in plan_batches(specs, data, max_models):
        if key is None:
            out[batch[0]] = task.train(specs[batch[0]], data, dataset, checkpoints)
            continue
        assert isinstance(task, Classification)
        trained = train_batch(task, [specs[i] for i in batch], data, dataset, checkpoints, exact_batchnorm)
        for i, records in zip(batch, trained, strict=True):
            out[i] = records
    return out
