/* Forwards to Debian's znzlib.h (see CNIfTI.h). */
#include "/usr/include/nifti/znzlib.h"
