/* SwiftPM needs one source file to build a C target; the module is otherwise header-only. */
#include "CNIfTI.h"
