"""taco correspond against ANTs SyNQuick and SimpleITK on the same prepared synthetic subjects (test side only).

Every method maps the prepared T1w (fixed) to the atlas T1w template (moving); the subject -> atlas
point map is then evaluated at the token centres inside the mask (every 4th voxel) against synth's true
subject -> atlas map: mean / median / 95th percentile of the distance in mm, and the share of mutual
nearest neighbour pairs (within 4 mm in atlas space) between consecutive subjects whose true atlas
points lie within 3 mm. Times are wall-clock seconds of the registration alone.

Usage: python compare.py PREPARED SHARDS TRUTH_COHORT_JSON PSEUDONYMS_TSV TEMPLATE [taco] [ants] [sitk]
"""
import glob
import json
import os
import sys
import time

import h5py
import nibabel as nib
import numpy as np
from scipy.ndimage import map_coordinates
from scipy.spatial import cKDTree

prepared, shards, truth_path, table, template = sys.argv[1:6]
methods = sys.argv[6:] or ["taco", "ants", "sitk"]
truth = json.load(open(truth_path))
by_id = dict(line.split("\t") for line in open(table).read().split("\n")[1:] if line)
STRIDE = 4
LPS = np.array([-1.0, -1.0, 1.0])


def truth_atlas(points_ras, subject):
    """synth's subject -> atlas map (a vector NIfTI of atlas RAS on the subject grid) at RAS points."""
    image = nib.load(os.path.join(os.path.dirname(truth_path), subject["subject_to_atlas_map"]))
    data = np.asarray(image.dataobj, dtype=np.float64).reshape(image.shape[:3] + (3,))
    index = (np.c_[points_ras, np.ones(len(points_ras))] @ np.linalg.inv(image.affine).T)[:, :3]
    return np.stack([map_coordinates(data[..., c], index.T, order=1, mode="nearest") for c in range(3)], axis=1)


def session_images(folder):
    """The prepared T1w and brain mask of a session folder."""
    anat = os.path.join(folder, "anat")
    return (glob.glob(os.path.join(anat, "*_desc-preproc_T1w.nii.gz"))[0],
            glob.glob(os.path.join(anat, "*_desc-brain_mask.nii.gz"))[0])


def tokens(folder):
    """Token voxel indices (x, y, z) inside the mask and their RAS points."""
    mask = nib.load(session_images(folder)[1])
    m = np.asarray(mask.dataobj) > 0
    index = np.argwhere(m[::STRIDE, ::STRIDE, ::STRIDE]) * STRIDE
    return index, (np.c_[index, np.ones(len(index))] @ mask.affine.T)[:, :3]


def taco_map(key, index):
    manifest = json.load(open(os.path.join(shards, "dataset.json")))
    shard = next(s["shard"] for s in manifest["subjects"] if s["key"] == key)
    with h5py.File(os.path.join(shards, shard), "r") as f:
        stride = int(f.attrs["token_stride"])
        assert stride == STRIDE, stride
        coords = f["subjects"][key]["atlas_coords"][...]          # (3, z', y', x')
    t = index // STRIDE
    return np.stack([coords[c, t[:, 2], t[:, 1], t[:, 0]] for c in range(3)], axis=1), None


def ants_map(folder, points_ras):
    import ants
    t1, mask = session_images(folder)
    # The prepared T1w is z-scored (mean 0 inside the mask): ANTs' centre-of-mass initialisation needs positive
    # intensities, so it gets the T1w shifted to a minimum of 0 and masked (the template is brain-extracted too).
    fixed, moving = ants.image_read(t1), ants.image_read(template)
    fixed = (fixed - fixed.min()) * ants.image_read(mask)
    start = time.time()
    reg = ants.registration(fixed=fixed, moving=moving, type_of_transform="antsRegistrationSyNQuick[s]")
    seconds = time.time() - start
    import pandas as pd
    lps = points_ras * LPS
    moved = ants.apply_transforms_to_points(3, pd.DataFrame(lps, columns=["x", "y", "z"]), reg["fwdtransforms"])
    return moved[["x", "y", "z"]].to_numpy() * LPS, seconds


def sitk_map(folder, points_ras):
    import SimpleITK as sitk
    t1, mask = session_images(folder)
    fixed = sitk.ReadImage(t1, sitk.sitkFloat32)
    moving = sitk.ReadImage(template, sitk.sitkFloat32)
    fixed_mask = sitk.ReadImage(mask, sitk.sitkUInt8)
    start = time.time()
    # Affine (Mattes MI, 10% sampling, 3 levels), then a B-spline (control points every ~20 mm) at 2 mm and 4 mm.
    affine = sitk.ImageRegistrationMethod()
    affine.SetMetricAsMattesMutualInformation(32)
    affine.SetMetricSamplingStrategy(affine.REGULAR)
    affine.SetMetricSamplingPercentage(0.1, 1)
    affine.SetMetricFixedMask(fixed_mask)
    affine.SetInterpolator(sitk.sitkLinear)
    affine.SetOptimizerAsRegularStepGradientDescent(2.0, 1e-3, 200)
    affine.SetOptimizerScalesFromPhysicalShift()
    affine.SetShrinkFactorsPerLevel([4, 2, 1])
    affine.SetSmoothingSigmasPerLevel([4, 2, 1])
    affine.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    initial = sitk.CenteredTransformInitializer(fixed, moving, sitk.AffineTransform(3), sitk.CenteredTransformInitializerFilter.GEOMETRY)
    affine.SetInitialTransform(initial, inPlace=False)
    a = affine.Execute(fixed, moving)
    mesh = [max(1, int(round(sz * sp / 20.0))) for sz, sp in zip(fixed.GetSize(), fixed.GetSpacing())]
    bspline = sitk.BSplineTransformInitializer(fixed, mesh)
    deformable = sitk.ImageRegistrationMethod()
    deformable.SetMetricAsMattesMutualInformation(32)
    deformable.SetMetricSamplingStrategy(deformable.REGULAR)
    deformable.SetMetricSamplingPercentage(0.1, 1)
    deformable.SetMetricFixedMask(fixed_mask)
    deformable.SetInterpolator(sitk.sitkLinear)
    deformable.SetOptimizerAsLBFGSB(gradientConvergenceTolerance=1e-5, numberOfIterations=50)
    deformable.SetShrinkFactorsPerLevel([4, 2])
    deformable.SetSmoothingSigmasPerLevel([2, 1])
    deformable.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    deformable.SetMovingInitialTransform(a)
    deformable.SetInitialTransform(bspline, inPlace=True)
    deformable.Execute(fixed, moving)
    seconds = time.time() - start
    composite = sitk.CompositeTransform([a, bspline])  # ITK: fixed point -> moving point, the last added applied first
    lps = points_ras * LPS
    moved = np.array([composite.TransformPoint(tuple(p)) for p in lps])
    return moved * LPS, seconds


def mnn_fraction(a_est, a_true, b_est, b_true, radius=4.0):
    ta, tb = cKDTree(a_est), cKDTree(b_est)
    da, ia = tb.query(a_est, distance_upper_bound=radius)
    db, ib = ta.query(b_est, distance_upper_bound=radius)
    pairs = [(i, u) for i, u in enumerate(ia) if u < len(b_est) and ib[u] == i]
    good = sum(np.linalg.norm(a_true[i] - b_true[u]) <= 3 for i, u in pairs)
    return good / max(len(pairs), 1), len(pairs)


results = {m: {"errors": [], "seconds": [], "maps": []} for m in methods}
truths = []
for subject in truth["subjects"]:
    label = by_id.get(subject["phi"]["PatientID"]) or by_id.get("nifti:" + subject["label"])   # DICOM or BIDS input
    folders = glob.glob(os.path.join(prepared, f"sub-{label}", "ses-*"))
    if not folders:
        continue
    folder = folders[0]
    key = f"sub-{label}_" + os.path.basename(folder)
    index, points = tokens(folder)
    true = truth_atlas(points, subject)
    truths.append(true)
    for m in methods:
        if m == "taco":
            est, seconds = taco_map(key, index)
        elif m == "ants":
            est, seconds = ants_map(folder, points)
        else:
            est, seconds = sitk_map(folder, points)
        e = np.linalg.norm(est - true, axis=1)
        results[m]["errors"].append(e)
        results[m]["maps"].append(est)
        if seconds is not None:
            results[m]["seconds"].append(seconds)
        print(f"  {key} {m}: mean {e.mean():.2f} mm, median {np.median(e):.2f}, p95 {np.percentile(e, 95):.2f}"
              + (f", {seconds:.1f} s" if seconds is not None else ""), flush=True)

summary = {}
for m in methods:
    e = np.concatenate(results[m]["errors"])
    fractions = [mnn_fraction(results[m]["maps"][i], truths[i], results[m]["maps"][i + 1], truths[i + 1])[0]
                 for i in range(len(truths) - 1)]
    summary[m] = {"mean_mm": float(e.mean()), "median_mm": float(np.median(e)), "p95_mm": float(np.percentile(e, 95)),
                  "mnn_within_3mm": float(np.mean(fractions)) if fractions else None,
                  "seconds_per_subject": float(np.mean(results[m]["seconds"])) if results[m]["seconds"] else None}
    print(f"{m:5s} error mean {e.mean():.2f} mm, median {np.median(e):.2f}, p95 {np.percentile(e, 95):.2f}; "
          f"MNN pairs within 3 mm {100 * np.mean(fractions):.1f}%"
          + (f"; {np.mean(results[m]['seconds']):.1f} s per subject" if results[m]["seconds"] else ""))
json.dump(summary, open(os.path.join(shards, "comparison.json"), "w"), indent=2)
