"""The topology losses of docs/design.md §2 in PyTorch: vectorised (no Python loop over tokens or matches), on
any device, differentiable by autograd. They equal TacoKit's Swift losses (and so the plugin's) on the same
tokens and negatives: Tests/TrainTests/torch_check.py compares values and gradients in float64 and float32.

Feature maps come channels-first as an encoder returns them, (B, C, z, y, x); `tokens()` flattens them
position-major, token t = (k * gy + j) * gx + i, the order of the stream's token points and matches. Flattening
a channels-first map with a plain reshape to (B, -1, C) (as the paper's reference code does) scrambles tokens
and channels; `tokens()` permutes first.
"""
import torch
import torch.nn.functional as F
from torch import nn

EPSILON = 1e-12


def tokens(feature_map):
    """(B, C, z, y, x) -> (B, T, C), position-major."""
    if feature_map.dim() != 5:
        raise ValueError(f"expected a (B, C, z, y, x) feature map, got shape {tuple(feature_map.shape)}")
    b, c = feature_map.shape[:2]
    return feature_map.permute(0, 2, 3, 4, 1).reshape(b, -1, c)


def _unit(z):
    return F.normalize(z, dim=-1, eps=EPSILON)


def _smallest(keys, k):
    """Per row, the k smallest entries' columns, smallest first, the diagonal left out, ties to the lower index
    (argmin gives the first of equal values): k passes over the matrix, cheaper than sorting its rows."""
    keys = keys.clone()
    keys.fill_diagonal_(float("inf"))
    chosen = []
    for _ in range(min(k, keys.shape[1] - 1)):
        column = keys.argmin(1)
        chosen.append(column)
        keys.scatter_(1, column[:, None], float("inf"))
    return torch.stack(chosen, 1) if chosen else torch.zeros((keys.shape[0], 0), dtype=torch.long, device=keys.device)


def intra_neighbours(anchor, k=5):
    """N(i) of every token of `anchor` (T x C): its k nearest tokens by Euclidean distance, i excluded."""
    with torch.no_grad():
        squared = (anchor * anchor).sum(1)
        return _smallest(squared[None, :] - 2 * anchor @ anchor.T, k)


def draw_intra_negatives(neighbours, generator=None):
    """Neg(i): k tokens per row drawn uniformly without replacement from all but i and N(i) (T x k)."""
    t, k = neighbours.shape
    if t < 2 * k + 1:
        raise ValueError(f"the intra-instance loss needs at least 2k+1 = {2 * k + 1} tokens, the crop has {t}")
    allowed = torch.ones(t, t, dtype=torch.bool, device=neighbours.device)
    allowed.fill_diagonal_(False)
    allowed.scatter_(1, neighbours, False)
    scores = torch.rand(t, t, generator=generator, device="cpu").to(neighbours.device)
    scores[~allowed] = -1
    return scores.topk(k, dim=1).indices


def intra_direction(anchor, other, k=5, margin=0.05, negatives=None, generator=None):
    """L_ab: neighbours from `anchor` (a), distances under 1 - cos in `other` (b); only `other` gets gradient."""
    n = intra_neighbours(anchor.detach(), k)
    if negatives is None:
        negatives = draw_intra_negatives(n, generator)
    negatives = negatives.to(device=other.device, dtype=torch.long)
    if negatives.shape != n.shape:
        raise ValueError(f"negatives of shape {tuple(negatives.shape)}, expected {tuple(n.shape)}")
    u = _unit(other)
    similarity = u @ u.T                     # one GEMM; the hinge terms gather from it
    return torch.relu(similarity.gather(1, negatives) - similarity.gather(1, n) + margin).mean()


def intra_loss(za, zb, k=5, margin=0.05, negatives_ab=None, negatives_ba=None, generator=None):
    """L_ab + L_ba of one subject's two views (T x C each)."""
    if za.shape != zb.shape:
        raise ValueError(f"the two views' token features differ in shape: {tuple(za.shape)} and {tuple(zb.shape)}")
    if za.shape[0] <= k:
        raise ValueError(f"k = {k} neighbours need more than {k} tokens, got {za.shape[0]}")
    return (intra_direction(za, zb, k, margin, negatives_ab, generator)
            + intra_direction(zb, za, k, margin, negatives_ba, generator))


def inter_positives(a, matches, tokens_b, k=5):
    """For every match (i, u): the partners in B of i's k nearest tokens in A under 1 - cos that are matched
    (nearest first), as (M x k) indices with a (M x k) mask of which are real."""
    with torch.no_grad():
        ua = _unit(a)
        similarity = ua @ ua.T
        nearest = _smallest(-similarity, k)                       # largest similarity, ties to the lower index
        partner = torch.full((a.shape[0],), -1, dtype=torch.long, device=a.device)
        partner[matches[:, 0]] = matches[:, 1]
        candidates = partner[nearest[matches[:, 0]]]             # (M, k), -1 where the neighbour is unmatched
        real = candidates >= 0
        # Compact each row (matched neighbours first, in nearest-first order).
        order = torch.sort((~real).to(torch.int8), dim=1, stable=True).indices
        return candidates.gather(1, order), real.gather(1, order)


def draw_inter_negatives(matches, positives, real, tokens_b, generator=None):
    """One negative per positive, drawn with replacement from B's unmatched tokens (from B minus u and the
    positives when every token of B is matched)."""
    m, k = positives.shape
    matched = torch.zeros(tokens_b, dtype=torch.bool, device=positives.device)
    matched[matches[:, 1]] = True
    if (~matched).any():
        allowed = (~matched)[None, :].expand(m, tokens_b).clone()
    else:
        allowed = torch.ones(m, tokens_b, dtype=torch.bool, device=positives.device)
        allowed[torch.arange(m, device=positives.device), matches[:, 1]] = False
        allowed.scatter_(1, torch.where(real, positives, matches[:, 1:2].expand(m, k)), False)
    weights = allowed.to(torch.float64).cpu()
    rows_with_pool = weights.sum(1) > 0
    weights[~rows_with_pool] = 1
    draws = torch.multinomial(weights, k, replacement=True, generator=generator).to(positives.device)
    return draws, rows_with_pool.to(positives.device)


def inter_loss(a, b, matches, weights=None, k=5, margin=0.4, negatives=None, generator=None):
    """L_pq of subject p's tokens A and subject q's tokens B (T x C each) over one-to-one `matches` (M x 2:
    token of A, token of B), weighted by `weights` (M, default 1); only B gets gradient. `negatives` (M x >=k):
    the first |P(i)| of each row are used. Returns (value, matches that had positives)."""
    matches = torch.as_tensor(matches, dtype=torch.long, device=b.device).reshape(-1, 2)
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"A has {a.shape[1]} channels, B {b.shape[1]}")
    if len(matches) == 0:
        return b.sum() * 0, 0
    if len(torch.unique(matches[:, 0])) != len(matches) or len(torch.unique(matches[:, 1])) != len(matches):
        raise ValueError("matches must be one-to-one")
    positives, real = inter_positives(a.detach(), matches, b.shape[0], k)
    counts = real.sum(1)
    if negatives is None:
        negatives, has_pool = draw_inter_negatives(matches, positives, real, b.shape[0], generator)
        enough = has_pool
    else:
        negatives = torch.as_tensor(negatives, dtype=torch.long, device=b.device).reshape(len(matches), -1)[:, :k]
        enough = counts <= negatives.shape[1]                   # a match needs a negative for each of its positives
        negatives = F.pad(negatives, (0, k - negatives.shape[1])) if negatives.shape[1] < k else negatives
        checked = negatives[real & enough[:, None]]
        if ((checked < 0) | (checked >= b.shape[0])).any():
            raise ValueError("a negative is not a token of B")
    used = (counts > 0) & enough
    real = real & used[:, None]
    w = torch.ones(len(matches), dtype=b.dtype, device=b.device) if weights is None else torch.as_tensor(weights, dtype=b.dtype, device=b.device)
    total_weight = (w * used).sum()
    if total_weight <= 0:
        return b.sum() * 0, 0
    ub = _unit(b)
    similarity = ub[matches[:, 1]] @ ub.T                                  # (M, T_b): each match's anchor u against B
    s_pos = similarity.gather(1, positives.clamp(min=0))                   # (M, k)
    s_neg = similarity.gather(1, negatives.clamp(min=0))
    hinge = torch.relu(s_neg - s_pos + margin) * real
    share = (w / total_weight) / counts.clamp(min=1)
    return (share * hinge.sum(1)).sum(), int(used.sum())


def feature_matches(a, b):
    """Mutual nearest neighbours of A's and B's rows under 1 - cos (the fallback for flagged subjects): (M x 2)."""
    with torch.no_grad():
        similarity = _unit(a) @ _unit(b).T
        best_in_b = similarity.argmax(1)
        best_in_a = similarity.argmax(0)
        i = torch.arange(a.shape[0], device=a.device)
        mutual = best_in_a[best_in_b] == i
        return torch.stack([i[mutual], best_in_b[mutual]], 1)


def reconstruction_loss(output, target):
    """Mean squared error of the decoder's output against the input crop."""
    return F.mse_loss(output, target)


class TopologyLoss(nn.Module):
    """L = w_rec L_rec + w_intra L_intra + w_inter L_inter over a batch (docs/design.md §2), defaults 1, 0.1, 0.1
    (the paper's 1, 10, 10 let the topology terms' gradients outweigh reconstruction's: docs/method-study.md).

        loss = TopologyLoss()
        terms = loss(first, second, pairs, reconstruction=(output, views))
        terms["total"].backward()

    `first`, `second`: the encoder's token maps of every subject's two views, (B, C, z, y, x). `pairs`: ordered
    subject pairs, each a dict with "p", "q" and "matches" (M x 2 tensor of token indices: p's token, q's token)
    and optionally "weights" (M); "matches": None means match in feature space (the fallback). L_intra is the
    mean over subjects of L_ab + L_ba; L_inter = P(a->b) + P(b->a), each the mean of L_pq over the pairs that
    give a term (A = p's first view and B = q's second for a->b). Negatives are drawn from `generator`.
    """

    def __init__(self, reconstruction_weight=1.0, intra_weight=0.1, inter_weight=0.1, k=5, margin_intra=0.05, margin_inter=0.4):
        super().__init__()
        self.reconstruction_weight, self.intra_weight, self.inter_weight = reconstruction_weight, intra_weight, inter_weight
        self.k, self.margin_intra, self.margin_inter = k, margin_intra, margin_inter

    def forward(self, first, second, pairs=(), reconstruction=None, generator=None):
        za, zb = tokens(first), tokens(second)
        intra = torch.stack([intra_loss(za[s], zb[s], self.k, self.margin_intra, generator=generator) for s in range(za.shape[0])]).mean()
        inter = za.sum() * 0
        used = []
        for direction in range(2):
            terms = []
            for pair in pairs:
                p, q = int(pair["p"]), int(pair["q"])
                if p == q or not (0 <= p < za.shape[0] and 0 <= q < za.shape[0]):
                    raise ValueError(f"pair ({p}, {q}) is not two different subjects of a batch of {za.shape[0]}")
                a, b = (za[p], zb[q]) if direction == 0 else (zb[p], za[q])
                matches = pair.get("matches")
                weights = pair.get("weights")
                if matches is None:
                    matches, weights = feature_matches(a, b), None
                value, count = inter_loss(a, b, matches, weights, self.k, self.margin_inter, generator=generator)
                if count > 0:
                    terms.append(value)
            used.append(len(terms))
            if terms:
                inter = inter + torch.stack(terms).mean()
        rec = reconstruction_loss(*reconstruction) if reconstruction is not None else za.sum() * 0
        total = self.reconstruction_weight * rec + self.intra_weight * intra + self.inter_weight * inter
        return {"total": total, "reconstruction": rec, "intra": intra, "inter": inter, "pairs_used": tuple(used)}
