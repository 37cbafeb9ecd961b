"""Planted bugs shared by the gradient tests: layers and losses whose hand-written backward is
wrong on purpose, one per bug class people really write. Each keeps the right forward."""

import jax
import jax.numpy as jnp

from jaxnn import Dense, Dropout, Layer, ReLU, Sigmoid, Softmax, Tanh
from jaxnn.losses import Loss, half_sse


def scaled_dw_dense(features: int, factor: float) -> Layer:
    """A Dense whose backward multiplies dL/dw by ``factor`` (the bias gradient stays right)."""
    base = Dense(features)

    def vjp(params, x):
        y, backward = base.vjp(params, x)

        def wrong(dy):
            dparams, dx = backward(dy)
            return {"w": factor * dparams["w"], "b": dparams["b"]}, dx

        return y, wrong

    return base._replace(vjp=vjp, name=f"Dense({features}) with dw×{factor}")


def dense_with(features: int, name: str, fix) -> Layer:
    """A Dense whose backward's ``(dparams, dx)`` pass through ``fix(dparams, dx, x, dy)``."""
    base = Dense(features)

    def vjp(params, x):
        y, backward = base.vjp(params, x)

        def wrong(dy):
            dparams, dx = backward(dy)
            return fix(dict(dparams), dx, x, dy, params)

        return y, wrong

    return base._replace(vjp=vjp, name=name)


def elementwise_with(base: Layer, name: str, slope) -> Layer:
    """A parameter-free layer whose backward is ``dy * slope(x, y)`` (forward unchanged)."""

    def vjp(params, x):
        y = base.apply(params, x)
        return y, lambda dy: ((), dy * slope(x, y))

    return base._replace(vjp=vjp, name=name)


def sigmoid_from_x() -> Layer:
    """σ' written from the input, ``x(1−x)``, instead of from the output."""
    return elementwise_with(Sigmoid(), "SigmoidFromX", lambda x, y: x * (1 - x))


def sigmoid_times_2() -> Layer:
    return elementwise_with(Sigmoid(), "SigmoidTimes2", lambda x, y: 2 * y * (1 - y))


def tanh_wrong_sign() -> Layer:
    return elementwise_with(Tanh(), "TanhWrongSign", lambda x, y: -(1 - y**2))


def sigmoid_zero_in_tails() -> Layer:
    """Right except at saturation, where it clamps the slope to 0 (a bug only at |x| > 4)."""
    return elementwise_with(
        Sigmoid(), "SigmoidZeroTails", lambda x, y: jnp.where(jnp.abs(x) > 4, 0.0, y * (1 - y))
    )


def relu_ge() -> Layer:
    """ReLU with the derivative ``x >= 0``: wrong only for an input exactly at 0."""
    return elementwise_with(ReLU(), "ReLU(x>=0)", lambda x, y: (x >= 0).astype(y.dtype))


def softmax_missing_term() -> Layer:
    """Softmax backward ``y·dy``: the ``−y·Σ y·dy`` term is missing."""
    base = Softmax()

    def vjp(params, x):
        y = base.apply(params, x)
        return y, lambda dy: ((), y * dy)

    return base._replace(vjp=vjp, name="SoftmaxNoSum")


def dropout_without_scale(rate: float) -> Layer:
    """Dropout whose backward forgets the ``1/(1-rate)`` scale."""
    base = Dropout(rate)

    def vjp(params, x, *, key=None):
        y, backward = base.vjp(params, x, key=key)
        factor = 1.0 if key is None else 1 - rate
        return y, lambda dy: ((), backward(dy)[1] * factor)

    return base._replace(vjp=vjp, name=f"Dropout({rate}) without scale")


def dropout_fresh_mask(rate: float) -> Layer:
    """Dropout whose backward draws a new mask instead of reusing the forward's."""
    base = Dropout(rate)

    def vjp(params, x, *, key=None):
        y, _ = base.vjp(params, x, key=key)
        other = None if key is None else jax.random.fold_in(key, 7)
        return y, base.vjp(params, x, key=other)[1]

    return base._replace(vjp=vjp, name=f"Dropout({rate}) with a fresh mask")


def sse_backward_on_half_sse() -> Loss:
    """half_sse whose backward is sse's: ``2·(pred − target)`` (the classic factor 2)."""

    def vjp(pred, target):
        value, _ = half_sse.vjp(pred, target)
        return value, lambda g: g * 2 * (pred - target)

    return Loss(half_sse.value, vjp, name="half_sse with sse's backward")
