"""The reference `taco prep` is measured against: dcm2niix + SimpleITK doing the same work on the same dump.

Per session (patient): the T1w, T2w and FLAIR series converted by dcm2niix; with SimpleITK, the T1w resampled onto
an axis-aligned RAS grid at 1 mm covering it (linear), T2w and FLAIR registered rigidly to it (Mattes MI, 32 bins,
regular sampling 25%, shrink 4/2/1 with 4/2/0 mm smoothing, regular-step gradient descent, at most 200 iterations
per level, inside the T1w mask) and resampled onto it, the mask (10% of the 99th percentile, largest component,
holes filled), a crop to the mask's box plus 5 mm, z-scores inside the mask, .nii.gz files written.

Usage: python reference_pipeline.py DICOM_DUMP OUT_FOLDER   (prints one JSON line of timings)
Bench-side only: TacoKit itself never runs Python.
"""
import json
import os
import re
import resource
import subprocess
import sys
import time

import numpy as np
import SimpleITK as sitk

CLASSES = [("FLAIR", r"flair|tirm|dark.?fluid"), ("T1w", r"t1|mprage|bravo|tfe|spgr"), ("T2w", r"t2")]
REJECT = r"loc|scout|survey|screen|pd"


def classify(description):
    d = description.lower()
    if re.search(REJECT, d):
        return None
    for name, pattern in CLASSES:
        if re.search(pattern, d):
            return name
    return None


def ras_grid(image, spacing=1.0):
    size = image.GetSize()
    corners = [image.TransformContinuousIndexToPhysicalPoint((i * (size[0] - 1), j * (size[1] - 1), k * (size[2] - 1)))
               for i in (0, 1) for j in (0, 1) for k in (0, 1)]
    ras = np.array([(-x, -y, z) for x, y, z in corners])
    low, high = ras.min(0), ras.max(0)
    n = [int(np.ceil((high[a] - low[a]) / spacing - 1e-9)) + 1 for a in range(3)]
    reference = sitk.Image(n, sitk.sitkFloat32)
    reference.SetSpacing((spacing,) * 3)
    reference.SetOrigin((-low[0], -low[1], low[2]))
    reference.SetDirection((-1, 0, 0, 0, -1, 0, 0, 0, 1))
    return reference


def mask_of(image):
    values = sitk.GetArrayViewFromImage(image)
    threshold = 0.1 * float(np.percentile(values, 99))
    above = sitk.BinaryThreshold(image, lowerThreshold=np.nextafter(threshold, np.inf), upperThreshold=1e30)
    components = sitk.RelabelComponent(sitk.ConnectedComponent(above, True))
    largest = sitk.BinaryThreshold(components, 1, 1)
    return sitk.BinaryFillhole(largest, fullyConnected=True)


def register(fixed, fixed_mask, moving):
    method = sitk.ImageRegistrationMethod()
    method.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    method.SetMetricSamplingStrategy(method.REGULAR)
    method.SetMetricSamplingPercentage(0.25)
    method.SetMetricFixedMask(fixed_mask)
    method.SetInterpolator(sitk.sitkLinear)
    method.SetOptimizerAsRegularStepGradientDescent(learningRate=1.0, minStep=1e-3, numberOfIterations=200)
    method.SetOptimizerScalesFromPhysicalShift()
    method.SetShrinkFactorsPerLevel([4, 2, 1])
    method.SetSmoothingSigmasPerLevel([4, 2, 0])
    method.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    initial = sitk.CenteredTransformInitializer(fixed, moving, sitk.Euler3DTransform(),
                                                sitk.CenteredTransformInitializerFilter.GEOMETRY)
    method.SetInitialTransform(initial, inPlace=False)
    return method.Execute(sitk.Cast(fixed, sitk.sitkFloat32), sitk.Cast(moving, sitk.sitkFloat32))


def prepare(files, out, steps):
    t = time.perf_counter()
    images = {m: sitk.ReadImage(f, sitk.sitkFloat32) for m, f in files.items()}
    steps["decode"] += time.perf_counter() - t
    t = time.perf_counter()
    grid = ras_grid(images["T1w"])
    fixed = sitk.Resample(images["T1w"], grid, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    mask = mask_of(fixed)
    steps["resample"] += time.perf_counter() - t
    aligned = {"T1w": fixed}
    for m in ("T2w", "FLAIR"):
        if m not in images:
            continue
        t = time.perf_counter()
        transform = register(fixed, mask, images[m])
        steps["register"] += time.perf_counter() - t
        t = time.perf_counter()
        aligned[m] = sitk.Resample(images[m], grid, transform, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
        steps["resample"] += time.perf_counter() - t
    t = time.perf_counter()
    box = sitk.LabelShapeStatisticsImageFilter()
    box.Execute(mask)
    x, y, z, sx, sy, sz = box.GetBoundingBox(1)
    low = [max(0, v - 5) for v in (x, y, z)]
    high = [min(n - 1, v + s - 1 + 5) for v, s, n in zip((x, y, z), (sx, sy, sz), mask.GetSize())]
    size = [h - l + 1 for l, h in zip(low, high)]
    cropped_mask = sitk.RegionOfInterest(mask, size, low)
    inside = sitk.GetArrayViewFromImage(cropped_mask) > 0
    steps["resample"] += time.perf_counter() - t
    for m, image in aligned.items():
        t = time.perf_counter()
        cropped = sitk.RegionOfInterest(image, size, low)
        a = sitk.GetArrayFromImage(cropped)
        values = a[inside]
        a = np.where(inside, (a - values.mean()) / max(values.std(), 1e-6), 0).astype(np.float32)
        result = sitk.GetImageFromArray(a)
        result.CopyInformation(cropped)
        steps["normalise"] += time.perf_counter() - t
        t = time.perf_counter()
        sitk.WriteImage(result, os.path.join(out, f"{m}.nii.gz"))
        steps["write"] += time.perf_counter() - t
    sitk.WriteImage(sitk.Cast(cropped_mask, sitk.sitkInt16), os.path.join(out, "mask.nii.gz"))


def main():
    dump, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    steps = dict(convert=0.0, decode=0.0, resample=0.0, register=0.0, normalise=0.0, write=0.0)
    start = time.perf_counter()
    nifti = os.path.join(out, "dcm2niix")
    os.makedirs(nifti, exist_ok=True)
    beside = os.path.join(os.path.dirname(sys.executable), "dcm2niix")
    subprocess.run([beside if os.path.exists(beside) else "dcm2niix", "-z", "n", "-b", "y", "-ba", "n", "-f", "%i_%s_%d", "-o", nifti, dump],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    steps["convert"] = time.perf_counter() - start
    sessions = {}
    for name in sorted(os.listdir(nifti)):
        if not name.endswith(".nii") or not os.path.exists(os.path.join(nifti, name[:-4] + ".json")):
            continue  # dcm2niix's derived copies (e.g. _Eq_ for uneven slice spacing) have no sidecar
        sidecar = json.load(open(os.path.join(nifti, name[:-4] + ".json")))
        modality = classify(sidecar.get("SeriesDescription", ""))
        if modality is None:
            continue
        patient = sidecar.get("PatientID", name.split("_")[0])
        path = os.path.join(nifti, name)
        current = sessions.setdefault(patient, {}).get(modality)
        if current is None or os.path.getsize(path) > os.path.getsize(current):
            sessions[patient][modality] = path
    for k, (patient, files) in enumerate(sorted(sessions.items())):
        folder = os.path.join(out, f"session-{k + 1}")
        os.makedirs(folder, exist_ok=True)
        prepare(files, folder, steps)
    total = time.perf_counter() - start
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(json.dumps(dict(sessions=len(sessions), seconds=total, steps=steps, peak_memory_bytes=peak * 1024)))


if __name__ == "__main__":
    main()
