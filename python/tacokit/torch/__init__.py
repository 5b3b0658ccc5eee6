"""TacoKit for PyTorch: the topology losses (autograd, any device) and the model of `taco train`.

    from tacokit.torch import TacoDataset, TopologyLoss, load_taco_model, tokens
"""
from .losses import (TopologyLoss, draw_inter_negatives, draw_intra_negatives, feature_matches, inter_loss, intra_loss,
                     intra_neighbours, reconstruction_loss, tokens)
from .data import TacoDataset, batch_to_torch, loss_pairs
from .model import TacoEncoderDecoder, load_taco_model

__all__ = ["TopologyLoss", "intra_loss", "inter_loss", "reconstruction_loss", "feature_matches", "tokens", "intra_neighbours",
           "draw_intra_negatives", "draw_inter_negatives", "TacoEncoderDecoder", "load_taco_model", "TacoDataset", "batch_to_torch",
           "loss_pairs"]
