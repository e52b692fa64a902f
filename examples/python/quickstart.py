"""recsys quickstart: load data, fit, evaluate, recommend, plot.

    PYTHONPATH=build/python python examples/python/quickstart.py [--out DIR]

Uses MovieLens-1M from ../shared/data when present (else synthetic data).
"""
import argparse
import os

import recsys
from recsys import plot

parser = argparse.ArgumentParser()
parser.add_argument("--out", default=".", help="folder for the PNG plots")
parser.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "../../../shared/data/ml1m"))
args = parser.parse_args()
small = os.environ.get("RECSYS_QUICKSTART_SMALL") == "1"

# 1. Data: ML-1M (train/input.txt holds whole sequences minus the held-out tail) or synthetic.
ml1m = os.path.join(args.data, "train", "input.txt")
if os.path.exists(ml1m) and not small:
    data = recsys.Dataset.from_file(ml1m, "seq")
else:
    data, _truth = recsys.synthetic(num_users=500 if small else 5000, num_items=500, seed=7)
print(data)

# 2. Leave-one-out split: train / validation / test cases.
train, valid, test, _ = data.loo_split()

# 3. Fit a popularity baseline, item-kNN and (if built) SASRec with early stopping.
models = {
    "mostpop": recsys.Model.fit("mostpop", train),
    "itemknn": recsys.Model.fit("itemknn", train),
}
if "sasrec" in recsys.model_types():
    cfg = {"dim": 32, "num_blocks": 1, "num_heads": 1, "max_len": 50, "batch_size": 128,
           "epochs": 2 if small else 10, "validate_every_steps": 0, "patience": 2}
    models["sasrec"] = recsys.Model.fit(
        "sasrec", train, cfg, valid=valid,
        progress=lambda p: print(f"  epoch {p['epoch']} loss {p['loss']:.3f}") or True)

# 4. Full-catalogue evaluation (seen items filtered).
results = {name: m.evaluate(test, ks=(1, 5, 10, 20)) for name, m in models.items()}
for name, r in results.items():
    print(f"{name:8s} hr@10 {r['hr@10']:.4f} ndcg@10 {r['ndcg@10']:.4f}")

# 5. Recommend for one history (external item ids in and out).
history = data.history(0)[:-1]
ids, scores = models["itemknn"].recommend(history, k=5)
print("history tail", history[-5:].tolist(), "→ top-5", ids.tolist())

# 6. Plots.
os.makedirs(args.out, exist_ok=True)
plot.metric_vs_k(results, os.path.join(args.out, "quickstart_metrics.png"))
if "sasrec" in models:
    plot.training_curves(models["sasrec"].history, os.path.join(args.out, "quickstart_training.png"))
print("plots written to", os.path.abspath(args.out))
