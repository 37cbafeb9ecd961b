"""`summary`: the table a Keras or Lightning user expects before training."""

from __future__ import annotations

import math

import jax

from jaxnn import validate
from jaxnn.layers import Layer
from jaxnn.paramcheck import check_input_shape


def _abstract_init(layer: Layer, input_shape: tuple[int, ...]):
    """``(output_shape, params as ShapeDtypeStructs)`` without drawing a single number."""
    out = {}

    def init(key):
        out["shape"], params = layer.init(key, input_shape)
        return params

    params = jax.eval_shape(init, jax.random.key(0))
    return tuple(out["shape"]), params


def _param_shapes(params) -> tuple[str, int]:
    leaves = jax.tree_util.tree_leaves_with_path(params)
    shapes = ", ".join(
        f"{jax.tree_util.keystr(path).strip('[]').strip(chr(39))} {tuple(leaf.shape)}"
        for path, leaf in leaves
    )
    return shapes or "—", sum(math.prod(leaf.shape) for _, leaf in leaves)


def summary(model: Layer, input_shape) -> str:
    """One row per layer: index, layer, output shape (of one example), param shapes, count.

    ``input_shape`` is the shape of ONE example, as for ``init``. A combinator (``serial``,
    ``mlp``) is listed by its sublayers; the last line gives the total param count. Nothing is
    computed: shapes come from ``jax.eval_shape`` of ``init``.
    """
    validate.require_layer(model, "summary")
    shape = check_input_shape("summary", input_shape)
    layers = model.sublayers or (model,)
    rows = [("#", "layer", "output shape", "params", "count")]
    total = 0
    for i, layer in enumerate(layers):
        shape, params = _abstract_init(layer, shape)
        shapes, count = _param_shapes(params)
        total += count
        rows.append((str(i), repr(layer), str(shape), shapes, f"{count:,}"))
    widths = [max(len(row[c]) for row in rows) for c in range(5)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    rule = "-" * len(lines[0])
    head = f"{model!r}  ·  input {tuple(input_shape)}"
    return "\n".join([head, rule, lines[0], rule, *lines[1:], rule, f"total params: {total:,}"])
