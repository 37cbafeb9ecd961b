"""PyTorch on the minibatch workloads, as its documentation teaches them.

W5: an ``nn.Module``, a ``DataLoader`` over a ``TensorDataset`` (batch 32, the ragged last
batch dropped, as every other contender does), ``torch.optim.Adam``, and after each epoch an
evaluation on the held-out set under ``torch.no_grad()`` whose numbers are read with
``.item()``. The loader's sampler replays the shared data order (one permutation per epoch),
where a user would pass ``shuffle=True``; it costs the same.

W6: PyTorch's model-ensembling recipe (``torch.func``): one ``nn.Module`` per member,
``stack_module_state`` to stack their weights, and ``vmap(grad(loss))`` through
``functional_call`` on a stateless copy on the ``meta`` device; one ``torch.optim.Adam`` over
the stacked tensors (Adam is elementwise, so each member gets exactly its own Adam). Each
member gets its own batch from its own data order.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, stack_module_state, vmap
from torch.utils.data import DataLoader, Sampler, TensorDataset

from benchmarks.contenders.minibatch import batch_indices, epochs_and_batches
from benchmarks.workloads import Workload


class EpochOrders(Sampler):
    """Yields ``orders[e]`` on the ``e``-th pass: the shared shuffle, one epoch at a time."""

    def __init__(self, orders: np.ndarray):
        self.orders, self.epoch = orders, 0

    def __iter__(self):
        order = self.orders[self.epoch % len(self.orders)]
        self.epoch += 1
        return iter(order.tolist())

    def __len__(self) -> int:
        return self.orders.shape[1]


def _held_out(logits, y):
    return F.cross_entropy(logits, y).item(), (logits.argmax(-1) == y).float().mean().item()


def train_single(spec: Workload, data, init, steps, mlp_cls):
    epochs, _ = epochs_and_batches(spec, data, steps)
    model = mlp_cls(spec, init)
    dataset = TensorDataset(torch.from_numpy(data["X"]), torch.from_numpy(data["y"]).long())
    sampler = EpochOrders(data["orders"][:epochs])
    loader = DataLoader(dataset, batch_size=spec.batch_size, sampler=sampler, drop_last=True)
    xv, yv = torch.from_numpy(data["X_val"]), torch.from_numpy(data["y_val"]).long()
    opt = torch.optim.Adam(model.parameters(), lr=spec.lr)
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            _held_out(model(xv), yv)
    return model.export()


def _member(init, i: int):
    return [{k: v[i] for k, v in layer.items()} for layer in init]


def train_ensemble(spec: Workload, data, init, steps, mlp_cls):
    epochs, spe = epochs_and_batches(spec, data, steps)
    models = [mlp_cls(spec, _member(init, i)) for i in range(spec.ensemble)]
    params, buffers = stack_module_state(models)
    base = copy.deepcopy(models[0]).to("meta")

    def loss_fn(p, b, xb, yb):
        return F.cross_entropy(functional_call(base, (p, b), (xb,)), yb)

    grads_of = vmap(grad(loss_fn))
    predict = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)), in_dims=(0, 0, None))
    x, y = torch.from_numpy(data["X"]), torch.from_numpy(data["y"]).long()
    xv, yv = torch.from_numpy(data["X_val"]), torch.from_numpy(data["y_val"]).long()
    opt = torch.optim.Adam(params.values(), lr=spec.lr)
    for e in range(epochs):
        idx = torch.from_numpy(batch_indices(data["orders"][:, e], spe, spec.batch_size))
        for i in range(spe):
            rows = idx[:, i]  # (members, batch): each member its own examples
            grads = grads_of(params, buffers, x[rows], y[rows])
            for name, p in params.items():
                p.grad = grads[name]
            opt.step()
        with torch.no_grad():
            logits = predict(params, buffers, xv)  # (members, n_val, classes)
            F.cross_entropy(logits.transpose(1, 2), yv.expand(len(logits), -1)).item()
            (logits.argmax(-1) == yv).float().mean().item()
    n_layers = len(init)
    return [
        {
            "w": params[f"layers.{i}.weight"].detach().transpose(1, 2).numpy().copy(),
            "b": params[f"layers.{i}.bias"].detach().numpy().copy(),
        }
        for i in range(n_layers)
    ]
