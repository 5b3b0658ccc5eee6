/* SwiftPM needs one source file to build a C target; the shim itself is the inline header. */
#include "CHDF5.h"
