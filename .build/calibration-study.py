#!/usr/bin/env python3
"""Issue 23 item 4: does another calibration reach ECE <= 0.05 on a fold's test part? (dev study, pure Python)

    .build/calibration-study.py DATA_DIR CV_NAME

For every finished fold of the cross-validation CV_NAME in DATA_DIR's database, reads the exported model's stored
validation and test logits (run_predictions) and compares, on the fold's test part (which no fit sees):
  raw        softmax of the view-averaged logits
  T-orig     one temperature fitted on the fold's validation part, each original weighted once (what the portal does)
  T          the same, every image weighted once
  per-class  a temperature per class (vector scaling without bias, logits_c / T_c), fitted on validation, originals once
  pooled-T   one temperature fitted on the validation parts of all folds together, originals once (more originals behind it)
ECE: 15 equal-width confidence bins, as the portal computes it.
"""
import json, math, sqlite3, sys

def softmax(z):
    m = max(z); e = [math.exp(v - m) for v in z]; s = sum(e); return [v / s for v in e]

def nll(rows, scale):
    total = weights = 0.0
    for logits, label, w in rows:
        p = softmax([l / t for l, t in zip(logits, scale)])
        total -= w * math.log(max(p[label], 1e-12)); weights += w
    return total / weights

def golden(f, lo, hi, iters=60):
    g = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    for _ in range(iters):
        if f(c) < f(d): b = d
        else: a = c
        c, d = b - g * (b - a), a + g * (b - a)
    return (a + b) / 2

def fit_t(rows, k):
    t = golden(lambda t: nll(rows, [t] * k), 0.05, 20)
    return [t] * k

def fit_per_class(rows, k):
    scale = fit_t(rows, k)
    for _ in range(6):  # coordinate descent from the single temperature
        for c in range(k):
            def f(t, c=c):
                s = list(scale); s[c] = t; return nll(rows, s)
            scale[c] = golden(f, 0.05, 20, 40)
    return scale

def ece(rows, scale, bins=15):
    acc = [0] * bins; conf = [0.0] * bins; n = [0] * bins
    for logits, label, _ in rows:
        p = softmax([l / t for l, t in zip(logits, scale)])
        top = max(range(len(p)), key=lambda i: p[i])
        b = min(bins - 1, int(p[top] * bins))
        n[b] += 1; conf[b] += p[top]; acc[b] += int(top == label)
    total = sum(n)
    return sum(abs(acc[b] - conf[b]) for b in range(bins) if n[b]) / total

def main():
    data, cv = sys.argv[1], sys.argv[2]
    db = sqlite3.connect(f"{data}/wbcportal.db")
    folds = db.execute("select r.Id, r.Fold from runs r join cross_validations c on r.CrossValidationId = c.Id "
                       "where c.Name = ? and r.Status = 'Succeeded' order by r.Fold", (cv,)).fetchall()
    parts = {}
    for run_id, fold in folds:
        for part in ("val", "test"):
            ev = db.execute("select Id from run_evaluations where RunId = ? and Stage = 'model' and Part = ?", (run_id, part)).fetchone()
            raw = db.execute("select p.LogitsJson, p.Label, i.SourceGroup from run_predictions p left join dataset_images i on i.Id = p.DatasetImageId "
                             "where p.EvaluationId = ?", (ev[0],)).fetchall()
            copies = {}
            for _, lab, g in raw:
                if g is not None: copies[(g, lab)] = copies.get((g, lab), 0) + 1
            parts[(fold, part)] = [(json.loads(l), lab, 1.0 / copies[(g, lab)] if g is not None else 1.0) for l, lab, g in raw]
    k = len(next(iter(parts.values()))[0][0])
    pooled_val = [r for (f, p), rows in parts.items() if p == "val" for r in rows]
    pooled = fit_t(pooled_val, k)
    print(f"{cv}: {len(folds)} finished folds; pooled validation temperature {pooled[0]:.3f}")
    print("fold | acc | ECE raw | ECE T-orig (T) | ECE T (T) | ECE per-class (T_c) | ECE pooled-T")
    for _, fold in folds:
        val, test = parts[(fold, "val")], parts[(fold, "test")]
        plain = [(l, lab, 1.0) for l, lab, _ in val]
        tw, t, pc = fit_t(val, k), fit_t(plain, k), fit_per_class(val, k)
        acc = sum(int(max(range(k), key=lambda i: l[i]) == lab) for l, lab, _ in test) / len(test)
        print(f"{fold} | {acc:.3f} | {ece(test, [1.0] * k):.3f} | {ece(test, tw):.3f} ({tw[0]:.2f}) | {ece(test, t):.3f} ({t[0]:.2f}) | "
              f"{ece(test, pc):.3f} ({', '.join(f'{v:.2f}' for v in pc)}) | {ece(test, pooled):.3f}")

if __name__ == "__main__":
    main()
