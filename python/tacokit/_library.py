"""Where libTacoTrain.so is: $TACO_TRAIN_LIBRARY, the copy inside the package (a wheel), or a build of the
source tree this package sits in (`make plugin`, or the debug build of `make test`)."""
import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def library_path():
    """The plugin library to load; raises FileNotFoundError naming every place looked at."""
    candidates = []
    if os.environ.get("TACO_TRAIN_LIBRARY"):
        candidates.append(Path(os.environ["TACO_TRAIN_LIBRARY"]))
    candidates.append(_PACKAGE / "_lib" / "libTacoTrain.so")
    checkout = _PACKAGE.parent.parent
    candidates += [checkout / ".build" / "release" / "libTacoTrain.so", checkout / ".build" / "debug" / "libTacoTrain.so"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("libTacoTrain.so not found (looked at " + ", ".join(map(str, candidates))
                            + "); install the tacokit wheel (make wheel), build it with `make plugin`, or set TACO_TRAIN_LIBRARY")
