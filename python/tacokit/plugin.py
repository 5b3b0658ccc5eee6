"""TacoKit's trainer plugin (libTacoTrain.so, include/taco_train.h) from Python, through ctypes and numpy.

    from tacokit import TacoPlugin
    taco = TacoPlugin()                           # the library inside the package, or $TACO_TRAIN_LIBRARY
    with taco.stream("shards/dataset.json", batch_size=4, roi=[96, 96, 96], token_stride=8) as stream:
        for batch in stream:                      # one epoch; stream.state() to save for resuming
            views = batch["views"]                # (samples, 2, z, y, x) float32
            ...
    value, grad_a, grad_b = taco.loss_intra(za, zb)          # za, zb: (tokens, channels) float32

Token features are (tokens, channels) in position-major order: permute a (C, z, y, x) feature map to
(z, y, x, C) before flattening it (features.permute(1, 2, 3, 0).reshape(-1, C) in PyTorch).
"""
import ctypes
import json

import numpy as np

from ._library import library_path

class TacoError(RuntimeError):
    """A failure reported by the plugin, with its message (file and subject named where one is at fault)."""


class _BatchInfo(ctypes.Structure):
    _fields_ = [("samples", ctypes.c_int32), ("roi", ctypes.c_int32 * 3), ("tokens", ctypes.c_int32),
                ("token_grid", ctypes.c_int32 * 3), ("pairs", ctypes.c_int32), ("matches", ctypes.c_int32),
                ("epoch", ctypes.c_int64), ("batch", ctypes.c_int64)]


def _ptr(array, ctype=ctypes.c_float):
    return None if array is None else array.ctypes.data_as(ctypes.POINTER(ctype))


class TacoPlugin:
    """The library's functions with numpy arrays in and out."""

    def __init__(self, path=None):
        lib = ctypes.CDLL(str(path or library_path()))
        lib.taco_plugin_version.restype = ctypes.c_int32
        lib.taco_plugin_last_error.restype = ctypes.c_char_p
        lib.taco_stream_open.restype = ctypes.c_void_p
        lib.taco_stream_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        for name in ["taco_stream_next", "taco_stream_images", "taco_stream_tokens", "taco_stream_pairs", "taco_stream_describe",
                     "taco_stream_state", "taco_loss_intra", "taco_loss_inter", "taco_loss_intra_f64", "taco_loss_inter_f64",
                     "taco_loss_reconstruction", "taco_match_features"]:
            getattr(lib, name).restype = ctypes.c_int32
        lib.taco_stream_close.argtypes = [ctypes.c_void_p]
        self.lib = lib
        if lib.taco_plugin_version() != 1:
            raise TacoError("this wrapper speaks interface version 1")

    def _check(self, status):
        if status < 0:
            raise TacoError(self.lib.taco_plugin_last_error().decode())
        return status

    def stream(self, manifest, **options):
        """A stream of batches over a manifest; options as include/taco_train.h lists them."""
        return Stream(self, manifest, options)

    def loss_intra(self, za, zb, k=5, margin=0.05, negatives_ab=None, negatives_ba=None, seed=0):
        """L_ab + L_ba and the gradients for both views, in the inputs' precision (float32, or float64)."""
        double = np.asarray(za).dtype == np.float64
        dtype, scalar = (np.float64, ctypes.c_double) if double else (np.float32, ctypes.c_float)
        za, zb = np.ascontiguousarray(za, dtype), np.ascontiguousarray(zb, dtype)
        t, c = za.shape
        value, ga, gb = scalar(), np.empty_like(za), np.empty_like(zb)
        nab = None if negatives_ab is None else np.ascontiguousarray(negatives_ab, np.int32)
        nba = None if negatives_ba is None else np.ascontiguousarray(negatives_ba, np.int32)
        function = self.lib.taco_loss_intra_f64 if double else self.lib.taco_loss_intra
        self._check(function(_ptr(za, scalar), _ptr(zb, scalar), t, c, k, scalar(margin), _ptr(nab, ctypes.c_int32),
                             _ptr(nba, ctypes.c_int32), ctypes.c_uint64(seed), ctypes.byref(value), _ptr(ga, scalar), _ptr(gb, scalar)))
        return value.value, ga, gb

    def loss_inter(self, a, b, matches, weights=None, k=5, margin=0.4, negatives=None, seed=0):
        """L_pq, the gradient for B, and how many matches had positives, in the inputs' precision."""
        double = np.asarray(a).dtype == np.float64
        dtype, scalar = (np.float64, ctypes.c_double) if double else (np.float32, ctypes.c_float)
        a, b = np.ascontiguousarray(a, dtype), np.ascontiguousarray(b, dtype)
        matches = np.ascontiguousarray(matches, np.int32).reshape(-1, 2)
        w = None if weights is None else np.ascontiguousarray(weights, dtype)
        n = None if negatives is None else np.ascontiguousarray(negatives, np.int32)
        value, used, gb = scalar(), ctypes.c_int32(), np.empty_like(b)
        function = self.lib.taco_loss_inter_f64 if double else self.lib.taco_loss_inter
        self._check(function(_ptr(a, scalar), a.shape[0], _ptr(b, scalar), b.shape[0], a.shape[1], _ptr(matches, ctypes.c_int32),
                             _ptr(w, scalar), len(matches), k, scalar(margin), _ptr(n, ctypes.c_int32), ctypes.c_uint64(seed),
                             ctypes.byref(value), _ptr(gb, scalar), ctypes.byref(used)))
        return value.value, gb, used.value

    def loss_reconstruction(self, output, target):
        output, target = np.ascontiguousarray(output, np.float32), np.ascontiguousarray(target, np.float32)
        value, grad = ctypes.c_float(), np.empty_like(output)
        self._check(self.lib.taco_loss_reconstruction(_ptr(output), _ptr(target), ctypes.c_int64(output.size), ctypes.byref(value), _ptr(grad)))
        return value.value, grad

    def match_features(self, a, b):
        """Mutual nearest neighbours under 1 - cos (the fallback for flagged subjects): (n, 2) int32."""
        a, b = np.ascontiguousarray(a, np.float32), np.ascontiguousarray(b, np.float32)
        out, count = np.empty((min(len(a), len(b)), 2), np.int32), ctypes.c_int32()
        self._check(self.lib.taco_match_features(_ptr(a), len(a), _ptr(b), len(b), a.shape[1], _ptr(out, ctypes.c_int32), ctypes.byref(count)))
        return out[:count.value]


class Stream:
    """Iterating gives one epoch of batches (dicts of numpy arrays); iterate again for the next epoch."""

    def __init__(self, plugin, manifest, options):
        self.plugin, self.lib = plugin, plugin.lib
        self.handle = self.lib.taco_stream_open(str(manifest).encode(), json.dumps(options).encode())
        if not self.handle:
            raise TacoError(self.lib.taco_plugin_last_error().decode())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.handle:
            self.lib.taco_stream_close(ctypes.c_void_p(self.handle))
            self.handle = None

    def state(self):
        """(epoch, batch) of the next batch: pass them as options epoch=, batch= to resume."""
        epoch, batch = ctypes.c_int64(), ctypes.c_int64()
        self.plugin._check(self.lib.taco_stream_state(ctypes.c_void_p(self.handle), ctypes.byref(epoch), ctypes.byref(batch)))
        return epoch.value, batch.value

    def __iter__(self):
        while True:
            info = _BatchInfo()
            if self.plugin._check(self.lib.taco_stream_next(ctypes.c_void_p(self.handle), ctypes.byref(info))) == 0:
                return
            yield self._batch(info)

    def _batch(self, info):
        h = ctypes.c_void_p(self.handle)
        s, t = info.samples, info.tokens
        x, y, z = info.roi
        views = np.empty((s, 2, z, y, x), np.float32)
        self.plugin._check(self.lib.taco_stream_images(h, _ptr(views)))
        atlas, confidence = np.empty((s, t, 3), np.float32), np.empty((s, t), np.float32)
        labels, points = np.empty((s, t), np.uint8), np.empty((s, t, 3), np.float32)
        self.plugin._check(self.lib.taco_stream_tokens(h, _ptr(atlas), _ptr(confidence), _ptr(labels, ctypes.c_uint8), _ptr(points)))
        pairs, offsets = np.empty((info.pairs, 3), np.int32), np.empty(info.pairs + 1, np.int32)
        matches, weights = np.empty((max(info.matches, 1), 2), np.int32), np.empty(max(info.matches, 1), np.float32)
        self.plugin._check(self.lib.taco_stream_pairs(h, _ptr(pairs, ctypes.c_int32), _ptr(offsets, ctypes.c_int32),
                                                      _ptr(matches, ctypes.c_int32), _ptr(weights)))
        text = ctypes.create_string_buffer(1 << 20)
        self.plugin._check(self.lib.taco_stream_describe(h, text, ctypes.c_int64(len(text))))
        pair_list = [{"p": int(p), "q": int(q), "fallback": bool(f),
                      "matches": matches[offsets[i]:offsets[i + 1]], "weights": weights[offsets[i]:offsets[i + 1]]}
                     for i, (p, q, f) in enumerate(pairs)]
        return {"epoch": info.epoch, "batch": info.batch, "views": views, "token_grid": tuple(info.token_grid),
                "atlas_coords": atlas, "confidence": confidence, "labels": labels, "points": points,
                "pairs": pair_list, "description": json.loads(text.value.decode())}
