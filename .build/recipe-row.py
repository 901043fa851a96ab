#!/usr/bin/env python3
"""One row of issue 23's recipe table from a finished (or partly finished) cross-validation: dev script, pure Python.

    .build/recipe-row.py DATA_DIR CV_NAME [BASELINE_FOLD_ACCURACIES...]

Per fold (the exported model on its own test fold): accuracy, macro-F1, ECE after scaling, originals right by majority
(an original is right when most of its copies are), per-class recall, wall minutes; then the means and, given the
baseline's fold accuracies in percent (default: the `default` recipe's 84.8 74.7 88.1 88.6 78.3), the paired difference
with its 95 % margin (t with folds-1 degrees of freedom).
"""
import json, math, sqlite3, statistics, sys

T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571}

def main():
    data, cv = sys.argv[1], sys.argv[2]
    base = [float(v) for v in sys.argv[3:]] or [84.8, 74.7, 88.1, 88.6, 78.3]
    db = sqlite3.connect(f"{data}/wbcportal.db")
    rows = db.execute("select r.Fold, r.Seconds, e.ReportJson from runs r join cross_validations c on r.CrossValidationId = c.Id "
                      "join run_evaluations e on e.RunId = r.Id and e.Stage = 'model' and e.Part = 'test' "
                      "where c.Name = ? and r.Status = 'Succeeded' order by r.Fold", (cv,)).fetchall()
    accs, diffs = [], []
    print(f"{cv}: fold | acc | macro-F1 | ECE scaled | originals right | recall {'/'.join(json.loads(rows[0][2])['labels']) if rows else ''} | min")
    for fold, seconds, report_json in rows:
        r = json.loads(report_json)
        labels = r["labels"]
        mistaken = {(m.get("group"), m["label"]): m for m in r["byOriginal"]["mistaken"]}
        originals = r["byOriginal"]["originals"]
        wrong_by_majority = sum(1 for m in mistaken.values() if m["errors"] * 2 > m["images"])
        recall = "/".join(f"{c['recall']:.3f}" for c in r["perClass"])
        acc = 100 * r["accuracy"]
        accs.append(acc)
        if fold - 1 < len(base): diffs.append(acc - base[fold - 1])
        print(f"{fold} | {acc:.1f} | {r['macroF1']:.3f} | {r['calibrated']['ece']:.3f} | {100 * (originals - wrong_by_majority) / originals:.1f} % of {originals} | {recall} | {seconds / 60:.0f}")
    if len(accs) > 1:
        print(f"mean {statistics.mean(accs):.1f} % ± {statistics.stdev(accs):.1f} (sd over {len(accs)} folds)")
    if len(diffs) > 1:
        d, sd = statistics.mean(diffs), statistics.stdev(diffs)
        margin = T95[len(diffs) - 1] * sd / math.sqrt(len(diffs))
        verdict = "gain" if d - margin > 0 else "loss" if d + margin < 0 else "no gain (inside the margin)"
        print(f"paired difference to the baseline: {d:+.1f} points ± {margin:.1f} (95 %, {len(diffs)} folds): {verdict}")

if __name__ == "__main__":
    main()
