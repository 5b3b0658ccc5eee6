"""Runs python/examples/pretrain.py's main() on one rank, then saves the rank's final weights as
OUT/rank-<RANK>.safetensors, so that a test can compare the ranks. Arguments: pretrain.py's."""
import os
import sys

from safetensors.torch import save_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python", "examples"))
import pretrain  # noqa: E402

arguments = sys.argv[1:]
model = pretrain.main(arguments)
out = arguments[arguments.index("--out") + 1]
save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, os.path.join(out, f"rank-{os.environ.get('RANK', '0')}.safetensors"))
