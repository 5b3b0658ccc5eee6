"""taco correspond against ANTs SyNQuick, greedy and SimpleITK on the same prepared synthetic subjects (test side only).

Every method maps the prepared T1w (fixed) to the atlas T1w template (moving); the subject -> atlas
point map is then evaluated at the token centres inside the mask (every 4th voxel) against synth's true
subject -> atlas map: mean / median / 95th percentile of the distance in mm, and the share of mutual
nearest neighbour pairs (within 4 mm in atlas space) between consecutive subjects whose true atlas
points lie within 3 mm. Times are wall-clock seconds of the registration alone (taco: rigid + affine +
deformable from its own per-stage timing); memory is the peak resident size of the process that registered
(taco: its worker; the others: a forked child per subject).

Usage: python compare.py PREPARED TRUTH_COHORT_JSON PSEUDONYMS_TSV TEMPLATE METHOD...
METHOD: taco=SHARDS:LOG (a `taco correspond` output folder and its log; any name starting with taco),
        ants, greedy, sitk
"""
import glob
import json
import os
import re
import resource
import sys
import tempfile
import time

import h5py
import nibabel as nib
import numpy as np
from scipy.ndimage import map_coordinates
from scipy.spatial import cKDTree

prepared, truth_path, table, template = sys.argv[1:5]
methods, taco_runs = [], {}
for argument in sys.argv[5:]:
    name, _, run = argument.partition("=")
    methods.append(name)
    if name.startswith("taco"):
        folder, log = run.split(":")
        taco_runs[name] = (folder, log)
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


def taco_seconds(log):
    """Registration seconds per subject and the worker's peak memory (MiB) from a `taco correspond` log."""
    text = open(log).read()
    steps = dict((k, float(v)) for k, v in re.findall(r"(\w+) ([0-9.]+)", text.split("seconds per subject:")[1].split(";")[0]))
    peak = float(re.search(r"largest worker peak memory ([0-9.]+) GiB", text).group(1)) * 1024
    return steps["rigid"] + steps["affine"] + steps["deformable"], peak, steps


def taco_map(shards, key, index):
    manifest = json.load(open(os.path.join(shards, "dataset.json")))
    shard = next(s["shard"] for s in manifest["subjects"] if s["key"] == key)
    with h5py.File(os.path.join(shards, shard), "r") as f:
        stride = int(f.attrs["token_stride"])
        assert stride == STRIDE, stride
        coords = f["subjects"][key]["atlas_coords"][...]          # (3, z', y', x')
    t = index // STRIDE
    return np.stack([coords[c, t[:, 2], t[:, 1], t[:, 0]] for c in range(3)], axis=1)


def in_child(function, *arguments):
    """Runs function(*arguments) -> (points, seconds) in a forked child; returns them and the child's peak MiB."""
    out = tempfile.NamedTemporaryFile(suffix=".npz", delete=False).name
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            points, seconds = function(*arguments)
            np.savez(out, points=points, seconds=seconds)
            code = 0
        finally:
            os._exit(code)
    _, status, usage = os.wait4(pid, 0)
    if status != 0:
        raise RuntimeError(f"{function.__name__} failed in its child process")
    saved = np.load(out)
    os.unlink(out)
    return saved["points"], float(saved["seconds"]), usage.ru_maxrss / 1024


def greedy_map(folder, points_ras):
    """picsl-greedy: affine (NMI, 12 dof, from the image centres), then deformable NCC 2x2x2, 100x50x10, 2 threads.

    The map is read back convention-free: greedy reslices the template's own RAS coordinate images into the
    subject's grid with the transforms it found, and the token points are voxel centres of that grid."""
    from picsl_greedy import Greedy3D
    import SimpleITK as sitk
    t1, mask = session_images(folder)
    work = tempfile.mkdtemp()
    g = Greedy3D()
    start = time.time()
    g.execute(f"-d 3 -threads 2 -a -dof 12 -ia-image-centers -m NMI -n 100x50x10 -i {t1} {template} -gm {mask} "
              f"-o {work}/affine.mat")
    g.execute(f"-d 3 -threads 2 -m NCC 2x2x2 -n 100x50x10 -i {t1} {template} -gm {mask} -it {work}/affine.mat "
              f"-o {work}/warp.nii.gz")
    seconds = time.time() - start
    image = nib.load(template)
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in image.shape[:3]], indexing="ij"), axis=-1).reshape(-1, 3)
    ras = (np.c_[grid, np.ones(len(grid))] @ image.affine.T)[:, :3].reshape(image.shape[:3] + (3,))
    names = []
    for c in range(3):
        name = f"{work}/coordinate{c}.nii.gz"
        nib.save(nib.Nifti1Image(ras[..., c].astype(np.float32), image.affine), name)
        names.append(name)
    g.execute(f"-d 3 -rf {t1} " + " ".join(f"-rm {n} {n[:-7]}_moved.nii.gz" for n in names)
              + f" -r {work}/warp.nii.gz {work}/affine.mat")
    fixed = nib.load(t1)
    index = np.rint((np.c_[points_ras, np.ones(len(points_ras))] @ np.linalg.inv(fixed.affine).T)[:, :3]).astype(int)
    moved = [np.asarray(nib.load(f"{n[:-7]}_moved.nii.gz").dataobj) for n in names]
    return np.stack([m[index[:, 0], index[:, 1], index[:, 2]] for m in moved], axis=1), seconds


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


results = {m: {"errors": [], "seconds": [], "maps": [], "peak_mib": []} for m in methods}
for m, (folder, log) in taco_runs.items():
    seconds, peak, steps = taco_seconds(log)
    results[m]["taco_seconds"], results[m]["peak_mib"], results[m]["steps"] = seconds, [peak], steps
    print(f"  {m}: seconds per subject by stage " + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()), flush=True)
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
        if m in taco_runs:
            est, seconds = taco_map(taco_runs[m][0], key, index), results[m]["taco_seconds"]
        else:
            function = {"ants": ants_map, "greedy": greedy_map, "sitk": sitk_map}[m]
            est, seconds, peak = in_child(function, folder, points)
            results[m]["peak_mib"].append(peak)
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
                  "seconds_per_subject": float(np.mean(results[m]["seconds"])),
                  "peak_mib": float(max(results[m]["peak_mib"]))}
    print(f"{m:13s} error mean {e.mean():.2f} mm, median {np.median(e):.2f}, p95 {np.percentile(e, 95):.2f}; "
          f"MNN pairs within 3 mm {100 * np.mean(fractions):.1f}%; {np.mean(results[m]['seconds']):.1f} s per subject; "
          f"peak {max(results[m]['peak_mib']):.0f} MiB")
if "ants" in summary:
    reference = summary["ants"]
    for m in methods:
        print(f"{m:13s} vs ANTs SyNQuick: error {summary[m]['mean_mm'] / reference['mean_mm']:.2f}x, "
              f"time {summary[m]['seconds_per_subject'] / reference['seconds_per_subject']:.2f}x")
json.dump(summary, open(os.environ.get("TACO_BENCH_SUMMARY", "comparison.json"), "w"), indent=2)
