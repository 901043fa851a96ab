#!/usr/bin/env python3
"""Issue 23 item 5 (as issue 12 measured it): a copy of Kaggle TRAIN with six whole originals filed under a wrong class.

    python3 .build/moved-originals.py OUT_DIR        # writes OUT_DIR/<CLASS>/<file> and OUT_DIR.moved.json

Moved (by TRAIN_sources.csv): EOS 00271, 00144 -> NEUTROPHIL; NEU 00370, 00282 -> EOSINOPHIL; LYM 00047 -> MONOCYTE;
MON 00318 -> LYMPHOCYTE: N = 341 images, M = 6 originals. File names get a short hash of their source path so copies from two
class folders never collide (the name says nothing of the true class). Then: import OUT_DIR --name moved, groups moved,
split moved --strategy grouped --ratios 0.8,0.1,0.1 --seed 42, label-issues moved --mode frozen-head --json, a 5-fold CV
(train --split moved-grouped-s42 --config .build/recipes/orig24.json --folds 5 --name cv-moved) and
label-issues moved --cross-validation cv-moved --json; score: moved images in the top 2N of "ranking", moved originals in the
top 2M of "originals" (a found group counts as moved when most of its images are).
"""
import csv, hashlib, json, os, sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'data', 'blood-cell-images')
out = sys.argv[1] if len(sys.argv) > 1 else sys.exit(__doc__)
moves = {'BloodImage_00271': 'NEUTROPHIL', 'BloodImage_00144': 'NEUTROPHIL', 'BloodImage_00370': 'EOSINOPHIL',
         'BloodImage_00282': 'EOSINOPHIL', 'BloodImage_00047': 'MONOCYTE', 'BloodImage_00318': 'LYMPHOCYTE'}
moved = []
for r in csv.DictReader(open(os.path.join(root, 'TRAIN_sources.csv'))):
    cls = r['class']
    new = moves.get(r['source_image'], cls)
    name = hashlib.md5(r['path'].encode()).hexdigest()[:6] + os.path.basename(r['path'])
    os.makedirs(os.path.join(out, new), exist_ok=True)
    with open(os.path.join(root, 'TRAIN', r['path']), 'rb') as src, open(os.path.join(out, new, name), 'wb') as dst:
        dst.write(src.read())
    if new != cls:
        moved.append({'path': f'{new}/{name}', 'source': r['source_image'], 'from': cls, 'to': new})
json.dump(moved, open(out.rstrip('/') + '.moved.json', 'w'), indent=1)
print(len(moved), 'moved images from', len({m['source'] for m in moved}), 'originals')
