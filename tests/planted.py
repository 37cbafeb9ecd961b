"""Planted bugs shared by the gradient tests: layers whose hand-written vjp is wrong on purpose."""

from jaxnn import Dense, Layer


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
