#!/usr/bin/env python3
"""PyTorch peer of `recsys bench train`: the same SASRec model, loss and
optimiser as src/models/sasrec.cc, timed on the same synthetic data shape.

Model (must stay identical to include/recsys/ranker/short_term_encoder.h):
  x0 = dropout(E[items] * sqrt(D) + P) * valid
  per block: y = x + dropout(MHA(LN1(x)))   (causal, padded keys masked)
             z = y + dropout(FFN(LN2(y)))   FFN = Linear(D,F) -> ReLU -> dropout -> Linear(F,D)
             x = z * valid
  states = LN_f(x);  LayerNorm eps 1e-8
Loss: "ce" full softmax over the catalogue at every position; "gbce"/"bce":
the target vs K uniform negatives, drawn for every position
(--sharing position, gSASRec's sampling: E[negs] gathered as B·S × K × D, as
the gSASRec reference code does) or shared by the batch (--sharing batch: one
GEMM), accidental hits masked, mean over all terms,
gBCE beta = 1 - t(1 - K/(N-1)), t = 0.75; "sampled_softmax": softmax over
target + the negatives.
Optimiser: Adam(lr 1e-3, betas (0.9, 0.98)), tied input/output embeddings.

Prints one JSON object on the last line of stdout:
  {"events_per_s": ..., "seconds_per_step": ..., "torch_version": ..., "last_loss": ...}
or {"skipped": "..."} when torch is not installed.
"""
import argparse
import json
import math
import sys
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--loss", default="gbce", choices=["gbce", "ce", "bce", "sampled_softmax"])
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--seq-len", type=int, default=200)
    p.add_argument("--items", type=int, default=3416)
    p.add_argument("--blocks", type=int, default=2)
    p.add_argument("--heads", type=int, default=1)
    p.add_argument("--negatives", type=int, default=256)
    p.add_argument("--sharing", default="position", choices=["position", "batch"])
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except ImportError as e:  # optional dependency (scripts/install_bench_deps.sh)
        print(json.dumps({"skipped": f"torch not installed ({e})"}))
        return 0

    torch.set_num_threads(a.threads)
    torch.set_num_interop_threads(1) if hasattr(torch, "set_num_interop_threads") else None
    torch.manual_seed(a.seed)
    D, S, N = a.dim, a.seq_len, a.items

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln1 = nn.LayerNorm(D, eps=1e-8)
            self.attn = nn.MultiheadAttention(D, a.heads, batch_first=True)
            self.ln2 = nn.LayerNorm(D, eps=1e-8)
            self.ffn = nn.Sequential(nn.Linear(D, D), nn.ReLU(), nn.Dropout(a.dropout), nn.Linear(D, D))
            self.drop_a = nn.Dropout(a.dropout)
            self.drop_f = nn.Dropout(a.dropout)

        def forward(self, x, causal, pad, valid):
            h = self.ln1(x)
            att, _ = self.attn(h, h, h, attn_mask=causal, key_padding_mask=pad, need_weights=False)
            y = x + self.drop_a(att)
            z = y + self.drop_f(self.ffn(self.ln2(y)))
            return z * valid

    class SasRec(nn.Module):
        def __init__(self):
            super().__init__()
            self.item = nn.Embedding(N, D)
            self.pos = nn.Parameter(torch.empty(S, D))
            nn.init.xavier_uniform_(self.item.weight)
            nn.init.xavier_uniform_(self.pos)
            self.drop = nn.Dropout(a.dropout)
            self.blocks = nn.ModuleList([Block() for _ in range(a.blocks)])
            self.ln_f = nn.LayerNorm(D, eps=1e-8)

        def forward(self, items):  # items: B x S, -1 = padding
            valid = (items >= 0).unsqueeze(-1).float()
            x = self.item(items.clamp(min=0)) * math.sqrt(D) + self.pos
            x = self.drop(x) * valid
            causal = torch.triu(torch.ones(S, S, dtype=torch.bool), diagonal=1)
            pad = items < 0
            for b in self.blocks:
                x = b(x, causal, pad, valid)
            return self.ln_f(x)

    model = SasRec()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.98))
    users = a.batch * (a.steps + a.warmup)
    seqs = torch.randint(0, N, (users, S + 1))
    beta = 1.0
    if a.loss == "gbce":
        beta = 1.0 - 0.75 * (1.0 - a.negatives / (N - 1))

    def step(batch):
        inputs, targets = batch[:, :-1], batch[:, 1:]
        h = model(inputs).reshape(-1, D)
        t = targets.reshape(-1)
        E = model.item.weight
        if a.loss == "ce":
            loss = F.cross_entropy(h @ E.t(), t)
        else:
            pos = (h * E[t]).sum(-1, keepdim=True)
            if a.sharing == "batch":
                negs = torch.randint(0, N, (a.negatives,))
                neg = h @ E[negs].t()
                mask = (negs.unsqueeze(0) != t.unsqueeze(1)).float()
            else:
                negs = torch.randint(0, N, (t.numel(), a.negatives))
                neg = torch.bmm(E[negs], h.unsqueeze(-1)).squeeze(-1)  # (B·S) x K
                mask = (negs != t.unsqueeze(1)).float()
            if a.loss == "sampled_softmax":
                logits = torch.cat([pos, neg.masked_fill(mask == 0, float("-inf"))], 1)
                loss = F.cross_entropy(logits, torch.zeros_like(t))
            else:
                pos_term = -beta * F.logsigmoid(pos).sum()
                neg_term = -(F.logsigmoid(-neg) * mask).sum()
                loss = (pos_term + neg_term) / (pos.numel() + mask.sum())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    model.train()
    for i in range(a.warmup):
        step(seqs[i * a.batch:(i + 1) * a.batch])
    start = time.perf_counter()
    loss = 0.0
    for i in range(a.warmup, a.warmup + a.steps):
        loss = step(seqs[i * a.batch:(i + 1) * a.batch])
    sec = time.perf_counter() - start
    events = a.steps * a.batch * S
    print(json.dumps({"events_per_s": events / sec, "seconds_per_step": sec / a.steps,
                      "torch_version": torch.__version__, "threads": torch.get_num_threads(),
                      "last_loss": loss}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
