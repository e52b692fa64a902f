#!/usr/bin/env python3
"""End-to-end scale benchmark on synthetic Yambda-like data (issue 9).

For each size (events), every step runs as its own `recsys` process so that
its wall time and peak resident memory (ru_maxrss from wait4) are its own:

  1. generate   synthetic listens (Zipf popularity, played ratio as the
                weight, organic flag, likes/dislikes) written as a binary
                snapshot; users = events / 1000, items = min(10^6, events / 100)
  2. split      the train part of the global-time split (Yambda protocol:
                train on events before T_test - 30 min) written as its own
                snapshot, streamed from the mapped data (`recsys snapshot
                --protocol time`): no copy of the events in memory
  3. train      longshort from the memory-mapped train snapshot (the events
                stay clean file pages the kernel can drop: data larger than
                RAM trains), under a step budget
  4. pipeline   the serving file: model + ANN index over the item embeddings;
                --index auto (default) = IVF1024,Flat at every size: FAISS's
                k-means trains on at most 256 points a list (262,144), a
                fixed cost once the catalogue is larger, and assigning the
                items costs items * 1024 * dim: linear in items (1024 lists
                suit the 10^6-item catalogue, ~sqrt(items)). nlist growing as
                sqrt(items) would make the assignment items^1.5 (measured:
                1.35x the time per event from 10^7 to 10^8 events);
                --index HNSW32 builds the graph index (items * log(items),
                and slower still once the graph leaves the cache: 791 s at
                10^6 items, 11.7x the 10^5-item build)
  5. evaluate   the trained model on the test day (each user's events of
                [T_test, T_test + 1 day); full-catalogue ranking, seen items
                filtered; at most --eval-users users, every n-th)

Raw event bytes = the snapshot file (every event's user, item, timestamp,
type, weight and organic flag in binary). Printed: a JSON object (also written
to --out) and a markdown table with seconds, peak RSS and RSS / raw bytes per
step, and, across sizes, each step's time per event relative to the smallest
size (1.0 = linear).

  python3 benchmarks/scale.py --events 1e6,1e7,1e8 --out benchmarks/results/scale.json
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
START_TIME = 1700000000  # the generator's start_time (data/synthetic.h)
DAY = 86400


def _status_kb(pid, keys):
    """Current values (bytes) of /proc/<pid>/status fields such as RssAnon."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                name, _, rest = line.partition(":")
                if name in keys:
                    out[name] = int(rest.split()[0]) * 1024
    except OSError:
        pass
    return out


def run_step(cmd, log):
    """Runs cmd; returns (seconds, peaks, parsed JSON of the last stdout line).

    peaks: peak_rss_bytes (ru_maxrss: everything resident, including pages of
    the memory-mapped snapshot, which the kernel can drop under pressure) and
    peak_anon_bytes (RssAnon sampled every 50 ms: heap and other anonymous
    memory, what must fit in RAM)."""
    t0 = time.perf_counter()
    peak_anon = 0
    with open(log, "w") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, text=True)
        stop = threading.Event()

        def sample():
            nonlocal peak_anon
            while not stop.is_set():
                peak_anon = max(peak_anon, _status_kb(p.pid, {"RssAnon"}).get("RssAnon", 0))
                stop.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out = p.stdout.read()
        stop.set()
        sampler.join()
        _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        with open(log) as f:
            tail = f.read()[-2000:]
        raise RuntimeError(f"{' '.join(cmd)} failed with {code}:\n{tail}")
    lines = [l for l in out.splitlines() if l.startswith("{")]
    peaks = {"peak_rss_bytes": usage.ru_maxrss * 1024, "peak_anon_bytes": peak_anon}
    return seconds, peaks, json.loads(lines[-1]) if lines else {}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", default="1e6,1e7", help="comma-separated sizes (e.g. 1e6,1e7,1e8)")
    p.add_argument("--recsys", default=os.path.join(ROOT, "build", "recsys"))
    p.add_argument("--workdir", default=None, help="where the data and models go (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the work directory")
    p.add_argument("--steps", type=int, default=300, help="training step budget (optimizer steps)")
    p.add_argument("--batch", type=int, default=64, help="users per training step")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--eval-users", type=int, default=2000)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--index", default="auto",
                   help="FAISS factory of the pipeline's index; auto = IVF1024,Flat")
    p.add_argument("--out", default=None, help="write the JSON here too")
    a = p.parse_args()
    if not os.path.exists(a.recsys):
        print(f"scale: {a.recsys} not found; build first (scripts/test.sh or cmake --build build)", file=sys.stderr)
        return 2
    work = a.workdir or tempfile.mkdtemp(prefix="recsys_scale_")
    os.makedirs(work, exist_ok=True)
    sizes = [int(float(x)) for x in a.events.split(",")]
    # Users start over 30 days and listen for ~125 days (1,000 events in
    # sessions of ~8, a day apart): day 100 has every user active.
    test_start = START_TIME + 100 * DAY
    config = {"dim": a.dim, "max_len": 50, "max_history": 2000, "num_interests": 4,
              "short_loss": "sampled", "long_loss": "sampled", "num_negatives": 256,
              "batch_size": a.batch, "num_shards": 2, "epochs": 0, "max_steps": a.steps,
              "learning_rate": 1e-3}
    cfg_path = os.path.join(work, "longshort_scale.json")
    with open(cfg_path, "w") as f:
        json.dump(config, f)
    threads = ["--threads", str(a.threads)]
    split = ["--protocol", "time", "--test-start", str(test_start), "--test-window", str(DAY), "--gap", "1800"]
    results = []
    for n in sizes:
        users = max(100, n // 1000)
        items = max(1000, min(1_000_000, n // 100))
        d = os.path.join(work, f"e{n}")
        os.makedirs(d, exist_ok=True)
        snap, model, pipe = (os.path.join(d, x) for x in ("data.snap", "model.rsm", "pipeline.rsp"))
        steps = {}
        print(f"scale: {n} events, {users} users, {items} items in {d}", file=sys.stderr)
        s, pk, j = run_step([a.recsys, "generate", "--events", str(n), "--users", str(users), "--items", str(items),
                              "--mean-length", "1000", "--seed", "7", "--out", snap, "--format", "snapshot", "--json"],
                             os.path.join(d, "generate.log"))
        raw = os.path.getsize(snap)
        steps["generate"] = {"seconds": s, **pk, "events": j.get("events")}
        events = j.get("events", n)
        train_snap = os.path.join(d, "train.snap")
        s, pk, j = run_step([a.recsys, "snapshot", "--data", snap, *split, "--out", train_snap, "--json"],
                            os.path.join(d, "split.log"))
        steps["split"] = {"seconds": s, **pk, "train_events": j.get("split", {}).get("train_events")}
        s, pk, j = run_step([a.recsys, "train", "--model-type", "longshort", "--data", train_snap, "--protocol",
                              "none", "--config", cfg_path, "--out", model, *threads, "--json"],
                             os.path.join(d, "train.log"))
        steps["train"] = {"seconds": s, **pk, "train_seconds": j.get("train_seconds"),
                          "train_events": j.get("train", {}).get("events"), "optimizer_steps": a.steps}
        index = a.index if a.index != "auto" else "IVF1024,Flat"
        s, pk, j = run_step([a.recsys, "build-pipeline", "--model", model, "--index", index, "--out", pipe,
                              "--json"], os.path.join(d, "pipeline.log"))
        steps["pipeline"] = {"seconds": s, **pk, "index": index}
        s, pk, j = run_step([a.recsys, "evaluate", "--model", model, "--data", snap, *split, "--max-users",
                              str(a.eval_users), "--k", "10,100", *threads, "--json"], os.path.join(d, "evaluate.log"))
        steps["evaluate"] = {"seconds": s, **pk, "users": j.get("users"),
                             "ndcg@10": j.get("ndcg@10"), "recall@100": j.get("recall@100"),
                             "hr@10": j.get("hr@10")}
        for v in steps.values():
            v["rss_over_raw"] = v["peak_rss_bytes"] / raw
            v["anon_over_raw"] = v["peak_anon_bytes"] / raw
        results.append({"events": events, "users": users, "items": items, "raw_bytes": raw, "steps": steps})
        if not a.keep:
            shutil.rmtree(d, ignore_errors=True)
    base = results[0]
    for r in results:
        for name, v in r["steps"].items():
            per = v["seconds"] / r["events"]
            v["time_per_event_vs_smallest"] = per / (base["steps"][name]["seconds"] / base["events"])
    out = {"benchmark": "scale", "protocol": "time (test day = day 100, gap 1800 s)",
           "train_from": "memory-mapped train snapshot (recsys snapshot --protocol time)", "config": config,
           "threads": a.threads or os.cpu_count(), "results": results}
    if a.out:
        with open(a.out, "w") as f:
            json.dump(out, f, indent=1)
    print("| events | step | seconds | peak RSS (GB) | RSS / raw | peak anonymous (GB) | anonymous / raw | "
          "time per event vs smallest |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        for name, v in r["steps"].items():
            print(f"| {r['events']:.2e} | {name} | {v['seconds']:.1f} | {v['peak_rss_bytes'] / 1e9:.2f} | "
                  f"{v['rss_over_raw']:.2f} | {v['peak_anon_bytes'] / 1e9:.2f} | {v['anon_over_raw']:.2f} | "
                  f"{v['time_per_event_vs_smallest']:.2f} |")
    print(json.dumps(out))
    if not a.keep and a.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
