"""The one exception the core raises, shared by the C++ binding and the Python reference."""


class CoreError(RuntimeError):
    """A call the core refused: bad input, wrong call order, or not enough blocks.

    The message names the operation and the request; the state is left as it was
    (except where KsanaLLM itself changes state before failing, see `fix_upstream_bugs`).
    """
