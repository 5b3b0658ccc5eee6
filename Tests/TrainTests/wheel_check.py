"""The tacokit wheel on a machine without the Swift toolchain: scripts/build_wheel.py packs the library, the wheel
is installed into a fresh virtual environment, ldd finds every library of the installed copy outside the toolchain,
and (where a mount namespace can be made, as root can) the toolchain's library folder is hidden while the
package is imported, a batch is streamed from the shards and a loss evaluated.

    python wheel_check.py /path/to/libTacoTrain.so SHARDS WORK_FOLDER
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import venv

library, shards, work = sys.argv[1:4]
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
subprocess.run([sys.executable, os.path.join(root, "scripts", "build_wheel.py"), library, os.path.join(work, "dist")], check=True)
wheel = glob.glob(os.path.join(work, "dist", "tacokit-*-py3-none-linux_x86_64.whl"))
assert len(wheel) == 1, wheel
environment = os.path.join(work, "venv")
venv.create(environment, with_pip=True)
python = os.path.join(environment, "bin", "python")
subprocess.run([python, "-m", "pip", "install", "--quiet", wheel[0]], check=True)
installed = glob.glob(os.path.join(environment, "lib", "python*", "site-packages", "tacokit", "_lib", "libTacoTrain.so"))
assert len(installed) == 1, installed

toolchain = [p for p in subprocess.run(["readelf", "-d", library], capture_output=True, text=True, check=True).stdout.split("runpath: [")[1]
             .split("]")[0].split(":") if p and "$ORIGIN" not in p]
assert toolchain, "the built library has no toolchain run path to hide"
clean = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "TACO_TRAIN_LIBRARY", "PYTHONPATH")}
clean["PATH"] = ":".join(p for p in os.environ["PATH"].split(":") if not any(p.startswith(os.path.dirname(os.path.dirname(t))) for t in toolchain))
listing = subprocess.run(["ldd", installed[0]], capture_output=True, text=True, check=True, env=clean).stdout
assert "not found" not in listing, listing
bundled = os.path.dirname(installed[0])
for name, path in re.findall(r"^\s*(\S+) => (\S+) \(", listing, re.M):
    assert not any(os.path.realpath(path).startswith(os.path.realpath(t)) for t in toolchain), f"{name} resolves into the toolchain: {path}"
    if re.search(r"swift|Foundation|dispatch|BlocksRuntime", name):
        assert path.startswith(bundled), f"{name} resolves to {path}, not the wheel's copy"

probe = f"""
import numpy as np, tacokit
path = str(tacokit.library_path())
assert path.startswith({os.path.realpath(environment)!r}), path
taco = tacokit.TacoPlugin()
with taco.stream({shards!r}, batch_size=2, roi=[16, 16, 16], token_stride=4, seed=1) as stream:
    batch = next(iter(stream))
assert batch["views"].shape == (2, 2, 16, 16, 16) and np.isfinite(batch["views"]).all()
rng = np.random.default_rng(0)
value, ga, gb = taco.loss_intra(rng.standard_normal((64, 8)).astype(np.float32), rng.standard_normal((64, 8)).astype(np.float32))
assert np.isfinite(value) and value > 0
print("streamed", batch["views"].shape, "loss", float(value), "from", path)
"""
hidden = os.path.join(work, "empty")
os.makedirs(hidden)
mounts = " && ".join(f"mount --bind {hidden} {t}" for t in toolchain)
hide = shutil.which("unshare") and subprocess.run(["unshare", "-m", "sh", "-c", f"{mounts} && true"], capture_output=True).returncode == 0
if hide:
    command = ["unshare", "-m", "sh", "-c", f'{mounts} && test -z "$(ls {toolchain[0]})" && exec "$0" -c "$1"', python, probe]
else:
    command = [python, "-c", probe]
result = subprocess.run(command, capture_output=True, text=True, env=clean, cwd=work)
assert result.returncode == 0, result.stdout + result.stderr
print("ok:", result.stdout.strip(), "(toolchain hidden in a mount namespace)" if hide else "(toolchain left in place: no mount namespace here; ldd checked)")
