"""The benchmark workloads: specs, data, initial weights and ONE float64 loss evaluator.

Every contender receives the same NumPy data and the same NumPy initial weights (drawn once
here from fixed seeds) and returns its final weights; `evaluate` then scores all of them with
the same float64 NumPy code, so equal work shows up as equal loss.

W1-W4 are full-batch gradient descent. W5/W6 train on minibatches (Adam, a fresh shuffle
each epoch) and validate on held-out digits every epoch; their data carries the shared data
order (``data["orders"]``: one permutation per epoch, and per member for W6) for the
contenders that can take one, and they are scored on the held-out set.

Canonical params (what contenders receive and must return): a list with one dict per Dense
layer, ``{"w": (in, out), "b": (out,)}`` (no ``"b"`` when the workload has no biases). For an
ensemble workload every array carries a leading member axis.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

DATA_DIR = Path(__file__).resolve().parent / "data"


@dataclasses.dataclass(frozen=True)
class Workload:
    """The math of one benchmark, identical for every contender."""

    name: str  # "W1"
    title: str  # "moons"
    sizes: tuple[int, ...]  # layer widths, input first
    hidden: str  # hidden activation: "tanh" | "sigmoid" | "relu"
    output: str  # "logits" (softmax cross-entropy on logits) | "sigmoid"
    loss: str  # "sum_ce" | "mean_ce" | "half_sse" | "mse"
    lr: float
    steps: int
    l2: float = 0.0  # lam/2 * sum of squared WEIGHTS (biases not regularised)
    use_bias: bool = True
    dtype: str = "float32"
    ensemble: int = 0  # number of independent members (0: a single network)
    description: str = ""
    caveat: str = ""  # what a reader of the final-loss column must know
    optimizer: str = "sgd"  # "sgd" (plain gradient descent) | "adam" (optax/PyTorch defaults)
    batch_size: int = 0  # 0: full batch; else minibatches, N // batch_size updates an epoch
    n_val: int = 0  # held-out examples (validated once per epoch; the score is on them)

    @property
    def np_dtype(self):
        return np.dtype(self.dtype)

    @property
    def minibatch(self) -> bool:
        return self.batch_size > 0

    def quick_steps(self) -> int:
        if self.minibatch:  # one epoch
            return self.steps // self.epochs()
        return max(10, self.steps // 100)

    def steps_per_epoch(self, n_train: int | None = None) -> int:
        """Updates per epoch: ``n_train // batch_size`` (the ragged remainder is skipped)."""
        if not self.minibatch:
            return 1
        n = DIGITS_N - self.n_val if n_train is None else n_train
        return n // self.batch_size

    def epochs(self, steps: int | None = None) -> int:
        """Whole epochs in ``steps`` updates (minibatch workloads run whole epochs only)."""
        spe = self.steps_per_epoch()
        return -(-(self.steps if steps is None else steps) // spe)


DIGITS_N = 1797  # UCI optdigits as scikit-learn ships them
DIGITS_VAL = 360  # held out (20 %)
DIGITS_EPOCHS = 30
DIGITS_STEPS = DIGITS_EPOCHS * ((DIGITS_N - DIGITS_VAL) // 32)  # 30 epochs of 44 updates


WORKLOADS: dict[str, Workload] = {
    w.name: w
    for w in (
        Workload(
            "W1",
            "moons",
            (2, 3, 2),
            "tanh",
            "logits",
            "sum_ce",
            lr=0.01,
            steps=20_000,
            l2=0.01,
            description="Britz's 200-point moons, 2-3-2 tanh/softmax, summed CE + l2(0.01), "
            "GD lr 0.01",
            caveat="Gradient descent on the SUMMED loss at lr 0.01 is sensitive to rounding "
            "here: differences in the last bit (in float64 too) grow to ~1e-4 within 2 000 "
            "steps, and identical math ends in one of two states, loss ≈ 14.152 or ≈ 14.263, "
            "depending only on the order of floating-point operations. Contenders agree to "
            "float32 precision over the first few hundred steps (`--quick` shows it; the "
            "test checks the first steps).",
        ),
        Workload(
            "W2",
            "xor3",
            (3, 4, 1),
            "sigmoid",
            "sigmoid",
            "half_sse",
            lr=1.0,
            steps=60_000,
            use_bias=False,
            dtype="float64",
            description="Trask's 3-4-1 sigmoid net, no biases, half SSE, lr 1, float64",
        ),
        Workload(
            "W3",
            "ensemble",
            (2, 8, 1),
            "sigmoid",
            "sigmoid",
            "mse",
            lr=1.0,
            steps=5_000,
            ensemble=4096,
            description="4096 independent 2-8-1 sigmoid XOR nets with biases, MSE, lr 1",
        ),
        Workload(
            "W4",
            "wide",
            (2, 256, 2),
            "tanh",
            "logits",
            "mean_ce",
            lr=0.5,
            steps=2_000,
            l2=1e-3,
            description="10 000-point moons (noise 0.2), 2-256-2 tanh/softmax, mean CE + "
            "l2(1e-3), lr 0.5, full batch",
        ),
        Workload(
            "W5",
            "digits",
            (64, 128, 10),
            "relu",
            "logits",
            "mean_ce",
            lr=1e-3,
            steps=DIGITS_STEPS,
            optimizer="adam",
            batch_size=32,
            n_val=DIGITS_VAL,
            description="8×8 digits (1 437 train / 360 held out), 64-128-10 ReLU/softmax, "
            "mean CE, Adam 1e-3, batch 32, reshuffled every epoch, held-out loss and accuracy "
            "every epoch",
        ),
        Workload(
            "W6",
            "digits ensemble",
            (64, 128, 10),
            "relu",
            "logits",
            "mean_ce",
            lr=1e-3,
            steps=DIGITS_STEPS // 6,  # 5 epochs: 256 × 30 epochs is ~0.6 TFLOP, minutes here
            optimizer="adam",
            batch_size=32,
            n_val=DIGITS_VAL,
            ensemble=256,
            description="256 digits MLPs (W5's net), each its own init and data order, in one "
            "program; Adam 1e-3, batch 32, held-out loss and accuracy every epoch",
        ),
    )
}


# ------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------


def make_moons_np(n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles, the geometry of scikit-learn's ``make_moons``.

    Label 0: the upper half circle of radius 1 centred at the origin; label 1: the lower half
    circle centred at (1, 0.5). Shuffled, then Gaussian noise of standard deviation ``noise``.
    Uses NumPy's legacy `RandomState`, whose streams are frozen, so the data is the same on
    every machine and NumPy version.
    """
    rng = np.random.RandomState(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0.0, np.pi, n_out)
    t_in = np.linspace(0.0, np.pi, n_in)
    X = np.concatenate(
        [
            np.stack([np.cos(t_out), np.sin(t_out)], axis=1),
            np.stack([1.0 - np.cos(t_in), 1.0 - np.sin(t_in) - 0.5], axis=1),
        ]
    )
    y = np.concatenate([np.zeros(n_out, np.int64), np.ones(n_in, np.int64)])
    order = rng.permutation(n)
    X, y = X[order], y[order]
    X = X + rng.normal(scale=noise, size=X.shape)
    return X, y


XOR_X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
XOR_Y = np.array([[0], [1], [1], [0]], dtype=np.float64)
TRASK_X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)


def load_digits_np() -> tuple[np.ndarray, np.ndarray]:
    """The 1 797 digits as ``(x (1797, 64) float64 in [0, 1], y (1797,) int32)``.

    From `jaxnn.datasets.digits` when this jaxnn has it, else from scikit-learn's copy of the
    same UCI data (both are the optdigits test set that scikit-learn ships).
    """
    try:
        from jaxnn.datasets import digits

        x, y = digits()
    except (ImportError, AttributeError):
        from sklearn.datasets import load_digits

        x, y = load_digits(return_X_y=True)
    x, y = np.asarray(x, np.float64), np.asarray(y, np.int32)
    if x.max() > 1.0:  # raw pixel counts 0..16
        x = x / 16.0
    return x, y


def make_orders(spec: Workload, n: int, steps: int) -> np.ndarray:
    """The shared data order: one permutation of the ``n`` training examples per epoch,
    int32 ``(epochs, n)``, or ``(members, epochs, n)`` for an ensemble (member ``i`` draws from
    its own seed), enough epochs for ``steps`` updates."""
    epochs = spec.epochs(steps)

    def member(seed: int) -> np.ndarray:
        rng = np.random.RandomState(seed)
        return np.stack([rng.permutation(n) for _ in range(epochs)]).astype(np.int32)

    if spec.ensemble:
        return np.stack([member(1000 + i) for i in range(spec.ensemble)])
    return member(5)


def make_data(spec: Workload, steps: int | None = None) -> dict[str, np.ndarray]:
    """``{"X": inputs in the workload's dtype, "y": int32 labels or float targets (n, 1)}``;
    minibatch workloads add ``"X_val"``, ``"y_val"`` and ``"orders"`` (see `make_orders`)."""
    dt = spec.np_dtype
    if spec.minibatch:
        x, y = load_digits_np()
        split = np.random.RandomState(55).permutation(len(x))
        val, tr = split[: spec.n_val], split[spec.n_val :]
        data = {"X": x[tr].astype(dt), "y": y[tr], "X_val": x[val].astype(dt), "y_val": y[val]}
        data["orders"] = make_orders(spec, len(tr), spec.steps if steps is None else steps)
        return data
    if spec.name == "W1":
        with np.load(DATA_DIR / "moons200.npz") as f:
            X, y = f["X"], f["y"]
        return {"X": X.astype(dt), "y": y.astype(np.int32)}
    if spec.name == "W2":
        return {"X": TRASK_X.astype(dt), "y": XOR_Y.astype(dt)}
    if spec.name == "W3":
        return {"X": XOR_X.astype(dt), "y": XOR_Y.astype(dt)}
    if spec.name == "W4":
        X, y = make_moons_np(10_000, 0.2, seed=2024)
        return {"X": X.astype(dt), "y": y.astype(np.int32)}
    raise KeyError(spec.name)


def make_init(spec: Workload) -> list[dict[str, np.ndarray]]:
    """Initial weights, drawn once in NumPy from a fixed seed (the tutorials' draws where any)."""
    dt = spec.np_dtype
    sizes = spec.sizes
    if spec.name == "W1":
        # Britz: np.random.seed(0); W = randn(in, out) / sqrt(in); b = zeros.
        rng = np.random.RandomState(0)
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            layers.append({"w": rng.randn(n_in, n_out) / np.sqrt(n_in), "b": np.zeros(n_out)})
    elif spec.name == "W2":
        # Trask: np.random.seed(1); syn = 2 * random((in, out)) - 1, syn0 drawn before syn1.
        rng = np.random.RandomState(1)
        layers = [
            {"w": 2 * rng.random_sample((n_in, n_out)) - 1}
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        ]
    elif spec.name == "W3":
        # Independent members: standard-normal weights and biases (with lr 1 and 5000 steps
        # they all converge; the count checks that every contender gets there).
        rng = np.random.RandomState(3)
        m = spec.ensemble
        layers = [
            {"w": rng.randn(m, n_in, n_out), "b": rng.randn(m, n_out)}
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        ]
    elif spec.name == "W4":
        rng = np.random.RandomState(4)
        layers = [
            {"w": rng.randn(n_in, n_out) / np.sqrt(n_in), "b": np.zeros(n_out)}
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        ]
    elif spec.minibatch:
        # scikit-learn's MLP initialisation (Glorot uniform, bound sqrt(6 / (in + out)), for
        # weights and biases alike), so that its own init is the same distribution.
        members = spec.ensemble or 1
        rngs = [np.random.RandomState(6000 + i) for i in range(members)]
        layers = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            bound = np.sqrt(6.0 / (n_in + n_out))
            draws = [
                (r.uniform(-bound, bound, (n_in, n_out)), r.uniform(-bound, bound, n_out))
                for r in rngs
            ]
            w, b = (np.stack(d) for d in zip(*draws, strict=True))
            layers.append({"w": w, "b": b} if spec.ensemble else {"w": w[0], "b": b[0]})
    else:
        raise KeyError(spec.name)
    return [{k: np.ascontiguousarray(v, dtype=dt) for k, v in layer.items()} for layer in layers]


# ------------------------------------------------------------------------------------------
# The shared float64 evaluator
# ------------------------------------------------------------------------------------------


def _sigmoid(z):
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


def forward64(spec: Workload, params, X) -> np.ndarray:
    """The network's output in float64 (logits for the cross-entropy workloads).

    For an ensemble, params carry a leading member axis and the result is (members, n, out).
    """
    act = {"tanh": np.tanh, "sigmoid": _sigmoid, "relu": lambda z: np.maximum(z, 0.0)}[spec.hidden]
    h = np.asarray(X, np.float64)
    n_layers = len(params)
    for i, layer in enumerate(params):
        w = np.asarray(layer["w"], np.float64)
        h = h @ w  # (n, in) @ (in, out), or (n, in) @ (m, in, out) -> (m, n, out)
        if "b" in layer:
            b = np.asarray(layer["b"], np.float64)
            h = h + (b[:, None, :] if b.ndim == 2 else b)
        if i < n_layers - 1:
            h = act(h)
    if spec.output == "sigmoid":
        h = _sigmoid(h)
    return h


def member_losses(spec: Workload, params, data) -> np.ndarray:
    """The objective (data loss + l2) of each member, float64; shape () for a single net."""
    out = forward64(spec, params, data["X"])
    y = data["y"]
    if spec.loss in ("sum_ce", "mean_ce"):
        z = out - out.max(axis=-1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        idx = np.broadcast_to(np.asarray(y, np.int64)[..., None], (*logp.shape[:-1], 1))
        nll = -np.take_along_axis(logp, idx, axis=-1)[..., 0]
        loss = nll.sum(axis=-1) if spec.loss == "sum_ce" else nll.mean(axis=-1)
    else:
        sq = (out - np.asarray(y, np.float64)) ** 2
        axes = (-2, -1)
        loss = 0.5 * sq.sum(axis=axes) if spec.loss == "half_sse" else sq.mean(axis=axes)
    if spec.l2:
        w2 = sum((np.asarray(layer["w"], np.float64) ** 2).sum(axis=(-2, -1)) for layer in params)
        loss = loss + spec.l2 / 2 * w2
    return np.asarray(loss)


def evaluate(spec: Workload, params, data) -> dict:
    """``{"loss": float}`` (the mean over members for an ensemble) plus, for an ensemble,
    ``"converged"``: how many members have max |pred − y| < 0.1.

    Minibatch workloads are scored on the held-out set: ``"loss"`` is its mean CE,
    ``"val_accuracy"`` its accuracy (both the mean over members for an ensemble; there also
    ``"val_accuracy_min"``, the worst member)."""
    if spec.minibatch:
        held_out = {"X": data["X_val"], "y": data["y_val"]}
        logits = forward64(spec, params, held_out["X"])
        acc = (logits.argmax(axis=-1) == held_out["y"]).mean(axis=-1)
        return {
            "loss": float(np.mean(member_losses(spec, params, held_out))),
            "val_accuracy": float(np.mean(acc)),
            "val_accuracy_min": float(np.min(acc)),
        }
    losses = member_losses(spec, params, data)
    result = {"loss": float(np.mean(losses))}
    if spec.ensemble:
        pred = forward64(spec, params, data["X"])
        err = np.abs(pred - np.asarray(data["y"], np.float64)).max(axis=(-2, -1))
        result["converged"] = int(np.sum(err < 0.1))
    return result


def dense_step_cost(spec: Workload, n: int) -> dict[str, float]:
    """FLOPs and minimum bytes of ONE full-batch training step of a single network.

    With layer widths s_0..s_L and n examples (dtype of b bytes, P parameters):

    FLOPs (a multiply-add is 2; tanh/exp/log count 1, as an order-of-magnitude convention):
      forward matmuls          Σ_i 2·n·s_i·s_{i+1}
      weight-gradient matmuls  Σ_i 2·n·s_i·s_{i+1}
      input-gradient matmuls   Σ_{i≥1} 2·n·s_i·s_{i+1}   (no gradient w.r.t. the data)
      bias add + bias grad     Σ_i 2·n·s_{i+1}            (when the layers have biases)
      hidden activation        Σ_hidden 4·n·s             (f: 1; dx = dy·(1 − h²): 3)
      softmax cross-entropy    5·n·s_L                    (max, sub, exp, sum/div, − onehot)
      l2 grad + SGD update     4·P_w + 2·P_b              (lam·w + g; p − lr·g)

    Minimum bytes: what a step cannot avoid moving between memory and the cores, assuming
    everything else stays in cache/registers: read X (n·s_0·b) and the targets (n·4 for int32
    labels), read and write every parameter (2·P·b), and store each hidden activation in the
    forward pass and load it back in the backward pass (2·n·s·b per hidden layer) -- the one
    intermediate a forward-then-backward program must keep.
    """
    sizes = spec.sizes
    b = spec.np_dtype.itemsize
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    hidden = sizes[1:-1]
    matmul = sum(2 * n * i * o for i, o in pairs) * 2 + sum(2 * n * i * o for i, o in pairs[1:])
    bias = sum(2 * n * o for _, o in pairs) if spec.use_bias else 0
    act = sum(4 * n * s for s in hidden)
    head = 5 * n * sizes[-1] if spec.output == "logits" else 0
    p_w = sum(i * o for i, o in pairs)
    p_b = sum(o for _, o in pairs) if spec.use_bias else 0
    update = 4 * p_w + 2 * p_b
    flops = matmul + bias + act + head + update
    bytes_min = n * sizes[0] * b + n * 4 + 2 * (p_w + p_b) * b + sum(2 * n * s * b for s in hidden)
    return {"flops": float(flops), "bytes": float(bytes_min), "matmul_flops": float(matmul)}


def load(name: str | Workload, steps: int | None = None):
    """``(spec, data, init)`` of a workload (by name, or a spec such as a ``replace``d one);
    ``steps`` sizes the data order of a minibatch workload (default: the spec's steps)."""
    spec = WORKLOADS[name] if isinstance(name, str) else name
    return spec, make_data(spec, steps), make_init(spec)
