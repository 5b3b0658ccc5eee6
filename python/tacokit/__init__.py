"""TacoKit's training side in Python: the trainer plugin (libTacoTrain.so) through ctypes and numpy, and with
PyTorch installed, `tacokit.torch` (the topology losses as autograd functions, the model of `taco train`).

    import tacokit
    taco = tacokit.TacoPlugin()               # finds the library (see tacokit.library_path)
    value, grad_a, grad_b = taco.loss_intra(za, zb)

docs/pytorch.md describes both.
"""
from ._library import library_path
from .plugin import Stream, TacoError, TacoPlugin

__all__ = ["TacoPlugin", "Stream", "TacoError", "library_path"]
__version__ = "0.1.0"
