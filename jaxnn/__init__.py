"""jaxnn: declarative, functional neural networks on JAX with hand-written, checked backprop."""

from jaxnn.layers import (
    Dense,
    Identity,
    Layer,
    ReLU,
    Sigmoid,
    Softmax,
    Step,
    Tanh,
    mlp,
    serial,
)

__version__ = "0.1.0"
