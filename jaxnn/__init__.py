"""jaxnn: declarative, functional neural networks on JAX with hand-written, checked backprop."""

from jaxnn import datasets, init, io, losses, perceptron, plot, testing, train
from jaxnn.backprop import autodiff_grad, grad, manual_vjp, value_and_grad
from jaxnn.gradcheck import GradReport, check_grads
from jaxnn.layers import (
    ELU,
    Dense,
    Dropout,
    Identity,
    Layer,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Step,
    Tanh,
    mlp,
    serial,
)
from jaxnn.losses import Loss, Regularizer
from jaxnn.paramcheck import ParamsError
from jaxnn.spec import from_spec, register_layer
from jaxnn.summary import summary
from jaxnn.vjpcheck import check_vjp

__version__ = "0.2.0"

__all__ = [
    "Dense",
    "Dropout",
    "ELU",
    "LeakyReLU",
    "ParamsError",
    "Softplus",
    "from_spec",
    "register_layer",
    "summary",
    "GradReport",
    "Identity",
    "Layer",
    "Loss",
    "ReLU",
    "Regularizer",
    "Sigmoid",
    "Softmax",
    "Step",
    "Tanh",
    "autodiff_grad",
    "check_grads",
    "check_vjp",
    "datasets",
    "grad",
    "init",
    "io",
    "losses",
    "manual_vjp",
    "mlp",
    "perceptron",
    "plot",
    "serial",
    "testing",
    "train",
    "value_and_grad",
]
