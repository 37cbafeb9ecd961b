"""PyTorch on CPU, eager: an ``nn.Module``, autograd, ``torch.optim.SGD``, a Python loop.

For the ensemble workload the members are batched the fastest honest way eager PyTorch
offers: weights as (members, in, out) tensors and ``torch.baddbmm`` over the member axis.
``torch-compile`` runs that same batched step under ``torch.compile`` (W3 only); when the
compiler cannot work here (no C++ toolchain, unsupported platform) the contender raises and
the harness reports the error instead of a time. The minibatch workloads (W5's
``DataLoader``, W6's ``torch.func`` ensemble) are in `pytorch_minibatch`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from benchmarks.workloads import Workload

_ACT = {"tanh": torch.tanh, "sigmoid": torch.sigmoid, "relu": torch.relu}
_DTYPE = {"float32": torch.float32, "float64": torch.float64}


class MLP(torch.nn.Module):
    """Linear layers with the workload's activations; weights loaded from the shared init."""

    def __init__(self, spec: Workload, init):
        super().__init__()
        dt = _DTYPE[spec.dtype]
        self.spec = spec
        self.act = _ACT[spec.hidden]
        self.layers = torch.nn.ModuleList()
        for layer in init:
            n_in, n_out = layer["w"].shape
            lin = torch.nn.Linear(n_in, n_out, bias="b" in layer, dtype=dt)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(layer["w"].T.copy()))  # torch stores (out, in)
                if "b" in layer:
                    lin.bias.copy_(torch.from_numpy(layer["b"]))
            self.layers.append(lin)

    def forward(self, x):
        for i, lin in enumerate(self.layers):
            x = lin(x)
            if i < len(self.layers) - 1:
                x = self.act(x)
        return torch.sigmoid(x) if self.spec.output == "sigmoid" else x

    def export(self):
        return [
            {"w": lin.weight.detach().numpy().T.copy()}
            | ({"b": lin.bias.detach().numpy().copy()} if lin.bias is not None else {})
            for lin in self.layers
        ]


def _objective(spec: Workload, model: MLP, out, y):
    if spec.loss in ("sum_ce", "mean_ce"):
        loss = F.cross_entropy(out, y, reduction="sum" if spec.loss == "sum_ce" else "mean")
    elif spec.loss == "half_sse":
        loss = 0.5 * ((out - y) ** 2).sum()
    elif spec.loss == "mse":
        loss = F.mse_loss(out, y)
    else:
        raise NotImplementedError(spec.loss)
    if spec.l2:
        loss = loss + spec.l2 / 2 * sum((lin.weight**2).sum() for lin in model.layers)
    return loss


def _train_single(spec: Workload, data, init, steps):
    model = MLP(spec, init)
    X = torch.from_numpy(data["X"])
    y = torch.from_numpy(data["y"])
    if spec.output == "logits":
        y = y.long()
    opt = torch.optim.SGD(model.parameters(), lr=spec.lr)
    for _ in range(steps):
        opt.zero_grad()
        loss = _objective(spec, model, model(X), y)
        loss.backward()
        opt.step()
    return model.export()


class Ensemble(torch.nn.Module):
    """All members at once: W (members, in, out), b (members, 1, out)."""

    def __init__(self, spec: Workload, init):
        super().__init__()
        self.w = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.from_numpy(layer["w"].copy())) for layer in init]
        )
        self.b = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.from_numpy(layer["b"][:, None, :].copy())) for layer in init]
        )
        self.act = _ACT[spec.hidden]

    def forward(self, x):  # x: (members, n, in)
        for i, (w, b) in enumerate(zip(self.w, self.b, strict=True)):
            x = torch.baddbmm(b, x, w)
            x = self.act(x) if i < len(self.w) - 1 else torch.sigmoid(x)
        return x

    def export(self):
        return [
            {"w": w.detach().numpy().copy(), "b": b.detach().numpy()[:, 0, :].copy()}
            for w, b in zip(self.w, self.b, strict=True)
        ]


def _ensemble_setup(spec: Workload, data, init):
    model = Ensemble(spec, init)
    m = spec.ensemble
    X = torch.from_numpy(data["X"]).expand(m, *data["X"].shape)
    y = torch.from_numpy(data["y"])
    opt = torch.optim.SGD(model.parameters(), lr=spec.lr)

    def step():
        opt.zero_grad()
        # Sum over members of each member's own MSE: each member gets its own gradient.
        loss = ((model(X) - y) ** 2).mean(dim=(1, 2)).sum()
        loss.backward()
        opt.step()

    return model, step


def _train_ensemble(spec: Workload, data, init, steps):
    model, step = _ensemble_setup(spec, data, init)
    for _ in range(steps):
        step()
    return model.export()


def train(spec: Workload, data, init, steps):
    if spec.minibatch:  # W5 / W6: DataLoader, and the torch.func ensemble recipe
        from benchmarks.contenders import pytorch_minibatch as mb

        fn = mb.train_ensemble if spec.ensemble else mb.train_single
        return fn(spec, data, init, steps, MLP)
    if spec.ensemble:
        return _train_ensemble(spec, data, init, steps)
    return _train_single(spec, data, init, steps)


_COMPILED: dict = {}


def train_compiled(spec: Workload, data, init, steps):
    """The batched ensemble step under ``torch.compile``. The compiled step is built once and
    reused (its model's weights are reset from ``init`` on every call), so repeated calls
    measure steady state."""
    if not spec.ensemble:
        raise NotImplementedError("torch-compile is only run on the ensemble workload")
    key = spec
    if key not in _COMPILED:
        model = Ensemble(spec, init)
        m = spec.ensemble
        X = torch.from_numpy(data["X"]).expand(m, *data["X"].shape)
        y = torch.from_numpy(data["y"])
        opt = torch.optim.SGD(model.parameters(), lr=spec.lr)

        @torch.compile
        def objective():  # forward + loss compiled; AOTAutograd compiles its backward too
            return ((model(X) - y) ** 2).mean(dim=(1, 2)).sum()

        @torch.compile
        def update():  # the optimizer step compiled, as PyTorch's tutorial recommends
            opt.step()

        def step():
            opt.zero_grad()
            objective().backward()
            update()

        _COMPILED[key] = (model, step)
    model, step = _COMPILED[key]
    with torch.no_grad():
        for p, layer in zip(model.w, init, strict=True):
            p.copy_(torch.from_numpy(layer["w"]))
        for p, layer in zip(model.b, init, strict=True):
            p.copy_(torch.from_numpy(np.ascontiguousarray(layer["b"][:, None, :])))
    for _ in range(steps):
        step()
    return model.export()


TRAINERS = {"torch": train, "torch-compile": train_compiled}
