/* Forwarding header: libnifti's NIfTI-1 API for Swift. Debian installs it under /usr/include/nifti,
 * which a Swift importer does not search; nifti1_io.h's own `#include <znzlib.h>` is resolved by the
 * forwarding znzlib.h beside this file. */
#ifndef TACO_CNIFTI_H
#define TACO_CNIFTI_H
#include "znzlib.h"
#include "/usr/include/nifti/nifti1_io.h"
#endif
