#!/usr/bin/env python3
"""Golden data for the pre-norm transformer block (tests/ranker/block_golden_test.cc).

An independent numpy implementation (batched (B, S, D) tensors, einsum, explicit
masks; backward derived by hand, separately from the C++ code) of

    h1 = LN1(x); a = SelfAttn(h1) (causal + key padding); y = x + a
    h2 = LN2(y); f = W2-layer(act(W1-layer(h2))); z = y + f; out = z * valid

with weights in the x @ W + b convention (W is d_in x d_out). Dropout is off.
Loss L = sum(out * R); the file stores x, valid, R, every weight, out, dL/dx and
every dL/dweight. Weights come from numpy's seeded generator, so rerunning this
script reproduces the committed file bit for bit.

Usage: /work/main/.venv/bin/python tests/golden/make_golden.py  (writes block_golden.json here)
"""
import json
import os

import numpy as np

B, S, D, H, F = 2, 5, 8, 2, 16
EPS = 1e-8
SEED = 20240601


def layer_norm(x, g, b):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    rstd = 1.0 / np.sqrt(var + EPS)
    xhat = (x - mu) * rstd
    return xhat * g + b, (xhat, rstd)


def layer_norm_back(dy, g, cache):
    xhat, rstd = cache
    dg = (dy * xhat).sum(axis=(0, 1))
    db = dy.sum(axis=(0, 1))
    dxhat = dy * g
    dx = rstd * (dxhat - dxhat.mean(-1, keepdims=True) - xhat * (dxhat * xhat).mean(-1, keepdims=True))
    return dx, dg, db


def gelu(x):
    c = np.sqrt(2.0 / np.pi)
    return 0.5 * x * (1.0 + np.tanh(c * (x + 0.044715 * x ** 3)))


def gelu_grad(x):
    c = np.sqrt(2.0 / np.pi)
    u = c * (x + 0.044715 * x ** 3)
    t = np.tanh(u)
    return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t ** 2) * c * (1.0 + 3 * 0.044715 * x ** 2)


def split_heads(t):  # (B, S, D) -> (B, H, S, dh)
    return t.reshape(B, S, H, D // H).transpose(0, 2, 1, 3)


def merge_heads(t):  # (B, H, S, dh) -> (B, S, D)
    return t.transpose(0, 2, 1, 3).reshape(B, S, D)


def attention(x, w, valid):
    q = x @ w["wq"] + w["bq"]
    k = x @ w["wk"] + w["bk"]
    v = x @ w["wv"] + w["bv"]
    qh, kh, vh = split_heads(q), split_heads(k), split_heads(v)
    scale = 1.0 / np.sqrt(D // H)
    logits = np.einsum("bhid,bhjd->bhij", qh, kh) * scale
    allowed = np.tril(np.ones((S, S), dtype=bool))[None, None] & valid[:, None, None, :].astype(bool) \
        & valid[:, None, :, None].astype(bool)
    masked = np.where(allowed, logits, -np.inf)
    row_max = masked.max(-1, keepdims=True)
    row_max = np.where(np.isfinite(row_max), row_max, 0.0)
    e = np.where(allowed, np.exp(masked - row_max), 0.0)
    denom = e.sum(-1, keepdims=True)
    p = np.divide(e, denom, out=np.zeros_like(e), where=denom > 0)
    ctx = merge_heads(np.einsum("bhij,bhjd->bhid", p, vh))
    out = ctx @ w["wo"] + w["bo"]
    return out, (x, qh, kh, vh, p, ctx, scale)


def attention_back(dout, w, cache, grads):
    x, qh, kh, vh, p, ctx, scale = cache
    grads["wo"] += np.einsum("bsi,bso->io", ctx, dout)
    grads["bo"] += dout.sum(axis=(0, 1))
    dctx = split_heads(dout @ w["wo"].T)
    dp = np.einsum("bhid,bhjd->bhij", dctx, vh)
    dvh = np.einsum("bhij,bhid->bhjd", p, dctx)
    dlogits = p * (dp - (p * dp).sum(-1, keepdims=True)) * scale
    dqh = np.einsum("bhij,bhjd->bhid", dlogits, kh)
    dkh = np.einsum("bhij,bhid->bhjd", dlogits, qh)
    dx = np.zeros_like(x)
    for name, dh in (("q", dqh), ("k", dkh), ("v", dvh)):
        dt = merge_heads(dh)
        grads["w" + name] += np.einsum("bsi,bso->io", x, dt)
        grads["b" + name] += dt.sum(axis=(0, 1))
        dx += dt @ w["w" + name].T
    return dx


def block(x, w, valid, act):
    h1, c1 = layer_norm(x, w["ln1_gamma"], w["ln1_beta"])
    a, ca = attention(h1, w, valid)
    y = x + a
    h2, c2 = layer_norm(y, w["ln2_gamma"], w["ln2_beta"])
    hid = h2 @ w["w1"] + w["b1"]
    act_out = np.maximum(hid, 0.0) if act == "relu" else gelu(hid)
    f = act_out @ w["w2"] + w["b2"]
    z = y + f
    out = z * valid[..., None]
    return out, (c1, ca, c2, h2, hid, act_out)


def block_back(dout, w, valid, act, cache):
    c1, ca, c2, h2, hid, act_out = cache
    g = {k: np.zeros_like(v) for k, v in w.items()}
    dz = dout * valid[..., None]
    g["w2"] += np.einsum("bsf,bsd->fd", act_out, dz)
    g["b2"] += dz.sum(axis=(0, 1))
    dact = dz @ w["w2"].T
    dhid = dact * (hid > 0) if act == "relu" else dact * gelu_grad(hid)
    g["w1"] += np.einsum("bsd,bsf->df", h2, dhid)
    g["b1"] += dhid.sum(axis=(0, 1))
    dh2 = dhid @ w["w1"].T
    dy_ln, g["ln2_gamma"], g["ln2_beta"] = layer_norm_back(dh2, w["ln2_gamma"], c2)
    dy = dz + dy_ln
    dh1 = attention_back(dy, w, ca, g)
    dx_ln, g["ln1_gamma"], g["ln1_beta"] = layer_norm_back(dh1, w["ln1_gamma"], c1)
    return dy + dx_ln, g


def make_case(rng, act):
    w = {
        "ln1_gamma": 1.0 + 0.1 * rng.standard_normal(D), "ln1_beta": 0.1 * rng.standard_normal(D),
        "ln2_gamma": 1.0 + 0.1 * rng.standard_normal(D), "ln2_beta": 0.1 * rng.standard_normal(D),
    }
    for name in ("q", "k", "v", "o"):
        w["w" + name] = rng.standard_normal((D, D)) / np.sqrt(D)
        w["b" + name] = 0.1 * rng.standard_normal(D)
    w["w1"] = rng.standard_normal((D, F)) / np.sqrt(D)
    w["b1"] = 0.1 * rng.standard_normal(F)
    w["w2"] = rng.standard_normal((F, D)) / np.sqrt(F)
    w["b2"] = 0.1 * rng.standard_normal(D)
    x = rng.standard_normal((B, S, D))
    valid = np.ones((B, S))
    valid[0, :2] = 0  # sequence 0 left-padded by two positions
    r = rng.standard_normal((B, S, D))
    out, cache = block(x, w, valid, act)
    dx, g = block_back(r, w, valid, act, cache)

    # Self-check of the numpy backward by central differences on a few entries.
    def loss():
        return float((block(x, w, valid, act)[0] * r).sum())
    for name, arr, grad in [("x", x, dx)] + [(k, w[k], g[k]) for k in ("wq", "w1", "ln1_gamma")]:
        flat, gflat = arr.reshape(-1), grad.reshape(-1)
        for i in range(0, flat.size, max(1, flat.size // 7)):
            old = flat[i]
            flat[i] = old + 1e-6
            lp = loss()
            flat[i] = old - 1e-6
            lm = loss()
            flat[i] = old
            num = (lp - lm) / 2e-6
            assert abs(num - gflat[i]) <= 1e-6 * max(1.0, abs(num)), (act, name, i, num, gflat[i])

    def pack(a):
        return {"shape": list(np.shape(a)), "data": [float(v) for v in np.asarray(a).reshape(-1)]}
    return {
        "activation": act,
        "x": pack(x.reshape(B * S, D)), "valid": [int(v) for v in valid.reshape(-1)],
        "r": pack(r.reshape(B * S, D)),
        "weights": {k: pack(v) for k, v in w.items()},
        "out": pack(out.reshape(B * S, D)), "dx": pack(dx.reshape(B * S, D)),
        "grads": {k: pack(v) for k, v in g.items()},
    }


def main():
    rng = np.random.default_rng(SEED)
    cases = [make_case(rng, "relu"), make_case(rng, "gelu")]
    doc = {"B": B, "S": S, "D": D, "H": H, "F": F, "eps": EPS, "seed": SEED,
           "convention": "x @ W + b; loss = sum(out * r); no dropout", "cases": cases}
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "block_golden.json")
    with open(path, "w") as fh:
        json.dump(doc, fh, indent=None, separators=(",", ":"))
        fh.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
