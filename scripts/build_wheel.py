"""Builds the tacokit wheel: python/ with libTacoTrain.so and the shared libraries it needs that a machine without
the Swift toolchain would not have, all found through $ORIGIN run paths.

    python scripts/build_wheel.py .build/release/libTacoTrain.so dist/

Bundled: the Swift runtime (every library ldd resolves inside the toolchain: libswiftCore, Foundation, ICU,
Dispatch, ...), OpenBLAS with its Fortran runtime (libgfortran, libquadmath) and libnifti (libniftiio, libznz).
Required from the system: glibc, libstdc++, libgcc_s, zlib and serial HDF5 (Debian/Ubuntu: libhdf5-103-1,
which brings its own dependencies such as libcurl and libsz); HDF5 is left to the system because its Debian build
pulls in a network stack that is not ours to ship. The wheel is tagged linux_x86_64: it runs on the Debian or
Ubuntu release it was built on and on newer ones with the same HDF5 soname.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_SYSTEM = re.compile(r"^(libopenblas|libgfortran|libquadmath|libniftiio|libznz)\.")
LICENCES = """Libraries bundled with libTacoTrain.so, found through $ORIGIN:
- the Swift runtime and Foundation (lib*swift*, libFoundation*, lib_FoundationICU, libdispatch, libBlocksRuntime):
  Apache License 2.0 with the Runtime Library Exception (https://swift.org/LICENSE.txt); ICU: Unicode licence.
- OpenBLAS (libopenblas): BSD 3-Clause. libgfortran, libquadmath: GPL 3 / LGPL 2.1 with the GCC Runtime Library Exception.
- libniftiio, libznz (nifti_clib): public domain.
Required from the system: glibc, libstdc++, libgcc_s, zlib, serial HDF5 (libhdf5_serial.so.103).
"""


def dependencies(library, environment=None):
    """(soname, resolved path or None) for every library ldd lists, direct and indirect."""
    out = subprocess.run(["ldd", str(library)], capture_output=True, text=True, check=True, env=environment).stdout
    found = []
    for line in out.splitlines():
        match = re.match(r"\s*(\S+) => (not found|(\S+) \(0x[0-9a-f]+\))", line)
        if match:
            found.append((match.group(1), match.group(3)))
    return found


def toolchain_folders(library):
    """The run path folders of the built library other than $ORIGIN: where SwiftPM's toolchain runtime is."""
    out = subprocess.run(["patchelf", "--print-rpath", str(library)], capture_output=True, text=True, check=True).stdout.strip()
    return [Path(p).resolve() for p in out.split(":") if p and "$ORIGIN" not in p]


def bundle(library, folder):
    """Copies the library and its non-system dependencies into `folder`, each with run path $ORIGIN."""
    toolchain = toolchain_folders(library)
    folder.mkdir(parents=True)
    shutil.copy2(library, folder / "libTacoTrain.so")
    copied = [folder / "libTacoTrain.so"]
    for name, path in dependencies(library):
        if path is None:
            raise SystemExit(f"{library}: ldd cannot find {name}; build the library on a machine where it links")
        real = Path(path).resolve()
        if any(real.is_relative_to(t) for t in toolchain) or BUNDLED_SYSTEM.match(name):
            shutil.copyfile(real, folder / name)
            copied.append(folder / name)
    for f in copied:
        os.chmod(f, 0o755)
        subprocess.run(["patchelf", "--set-rpath", "$ORIGIN", str(f)], check=True)
    (folder / "LICENCES.txt").write_text(LICENCES)
    return toolchain, copied


def check(folder, toolchain):
    """Every dependency of the bundled library resolves, and none inside the toolchain."""
    environment = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    for name, path in dependencies(folder / "libTacoTrain.so", environment):
        if path is None:
            raise SystemExit(f"the bundled library cannot find {name}")
        if any(Path(path).resolve().is_relative_to(t) for t in toolchain):
            raise SystemExit(f"the bundled library still takes {name} from the toolchain ({path})")


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: build_wheel.py LIBRARY OUTPUT_FOLDER")
    library, output = Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve()
    if shutil.which("patchelf") is None:
        raise SystemExit("patchelf is needed (Debian: apt install patchelf; make setup installs it)")
    with tempfile.TemporaryDirectory() as staging:
        source = Path(staging) / "python"
        shutil.copytree(ROOT / "python", source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "_lib"))
        toolchain, copied = bundle(library, source / "tacokit" / "_lib")
        check(source / "tacokit" / "_lib", toolchain)
        size = sum(f.stat().st_size for f in copied) / 1e6
        # A binary wheel for this platform (setuptools would otherwise call a package without extensions pure).
        (source / "setup.cfg").write_text("[bdist_wheel]\nplat_name = linux_x86_64\n")
        output.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", str(output), str(source)],
                       check=True)
    wheels = sorted(output.glob("tacokit-*-linux_x86_64.whl"), key=os.path.getmtime)
    print(f"{wheels[-1]}: libTacoTrain.so with {len(copied) - 1} bundled libraries ({size:.0f} MB uncompressed)")


if __name__ == "__main__":
    main()
