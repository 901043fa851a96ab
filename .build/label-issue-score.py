#!/usr/bin/env python3
"""Scores a label-issue search on the moved-originals set (issue 23 item 5, as issue 12 measured it): dev script.

    .build/label-issue-score.py MOVED_JSON LABEL_ISSUES_JSON

MOVED_JSON: what .build/moved-originals.py wrote (every moved image's path and true source); LABEL_ISSUES_JSON: the output of
`label-issues DATASET --json` on that set. Prints the share of the N moved images in the top 2N of the images' ranking, and the
share of the M moved originals in the top 2M of the originals' ranking (a found group counts as moved when most of its images
were moved; it finds the true source most of them come from).
"""
import collections, json, sys

moved = json.load(open(sys.argv[1]))
result = json.load(open(sys.argv[2]))
source_of = {m["path"]: m["source"] for m in moved}
n, m = len(source_of), len({m["source"] for m in moved})
items = sorted(result["items"], key=lambda i: -i["score"])
top = items[: 2 * n]
hit_images = sum(1 for i in top if i["path"] in source_of)

members = collections.defaultdict(list)
for i in result["items"]:
    members[(i["group"], i["given"])].append(i["path"])
found = set()
for o in result["originals"][: 2 * m]:
    paths = members.get((o["group"], o["label"]), [])
    sources = collections.Counter(source_of[p] for p in paths if p in source_of)
    if paths and sum(sources.values()) * 2 > len(paths):
        found.add(sources.most_common(1)[0][0])
print(f"{result['mode']}: {result['issues']} of {result['images']} images flagged; out-of-fold accuracy {result['outOfFoldAccuracy']:.3f}")
print(f"moved images in the top 2N ({2 * n}): {hit_images} of {n} = {hit_images / n:.1%}")
print(f"moved originals in the top 2M ({2 * m}): {len(found)} of {m} = {len(found) / m:.1%} ({', '.join(sorted(found))})")
likely = [o for o in result["originals"] if o.get("likely")]
print(f"originals likely mislabelled (most copies flagged): {len(likely)} of {len(result['originals'])}")
