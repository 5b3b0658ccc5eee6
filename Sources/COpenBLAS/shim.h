/* OpenBLAS's CBLAS interface (Debian: pkg-config openblas gives the include path). */
#include <cblas.h>
