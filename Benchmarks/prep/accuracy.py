"""Residual misalignment of `taco prep`'s co-registrations against `taco synth`'s truth (test side only).

For each prepared session and registered modality: the mean, over the mask's voxel centres p (RAS), of
|S(T(p)) - p|, where T is subject.json's grid -> acquisition transform and S the truth's
scanner_to_subject of that acquisition (both RAS here). 0 is perfect.

Usage: python accuracy.py PREPARED TRUTH_COHORT_JSON PSEUDONYMS_TSV
"""
import glob
import json
import os
import sys

import nibabel as nib
import numpy as np

prepared, truth_path, table = sys.argv[1:4]
truth = json.load(open(truth_path))
by_id = dict(line.split("\t") for line in open(table).read().split("\n")[1:] if line)
flip = np.diag([-1.0, -1.0, 1.0, 1.0])
worst = []
for subject in truth["subjects"]:
    label = by_id.get(subject["phi"]["PatientID"])
    summaries = glob.glob(os.path.join(prepared, f"sub-{label}", "ses-*", "subject.json"))
    if not summaries:
        continue
    summary = json.load(open(summaries[0]))
    mask_file = glob.glob(os.path.join(os.path.dirname(summaries[0]), "anat", "*_desc-brain_mask.nii.gz"))[0]
    mask = nib.load(mask_file)
    index = np.argwhere(np.asarray(mask.dataobj) > 0)[::7]
    points = np.c_[index, np.ones(len(index))] @ mask.affine.T
    for modality, registration in summary["registration"].items():
        to_acquisition = flip @ np.array(registration["to_reference_lps"]).reshape(4, 4) @ flip
        acquisition = next(a for a in subject["acquisitions"] if a["modality"] == modality)
        to_subject = np.array(acquisition["scanner_to_subject"])
        moved = points @ to_acquisition.T @ to_subject.T
        residual = np.linalg.norm(moved[:, :3] - points[:, :3], axis=1).mean()
        worst.append(residual)
        print(f"  sub-{label} {modality}: {residual:.3f} mm mean residual inside the mask")
print(f"residual misalignment: mean {np.mean(worst):.3f} mm, worst {np.max(worst):.3f} mm over {len(worst)} registrations")
