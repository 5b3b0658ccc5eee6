/* Serial HDF5 for Swift. HDF5's predefined types and property-list classes are macros over globals
 * that H5open() initialises, which Swift cannot import; these inline functions return them. */
#ifndef TACO_CHDF5_H
#define TACO_CHDF5_H
#include <hdf5.h>  /* found through pkg-config hdf5-serial */
#include <stdio.h>
#include <string.h>

/* H5P_DEFAULT and H5S_ALL import as Int32 literals, but hid_t is 64-bit: typed versions. */
static inline hid_t chdf5_default(void) { return H5P_DEFAULT; }
static inline hid_t chdf5_all(void) { return H5S_ALL; }
static inline hid_t chdf5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t chdf5_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t chdf5_native_uint8(void) { return H5T_NATIVE_UINT8; }
static inline hid_t chdf5_native_int32(void) { return H5T_NATIVE_INT32; }
static inline hid_t chdf5_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t chdf5_c_string(void) { return H5T_C_S1; }
static inline hid_t chdf5_ieee_f16le(void) {
    /* HDF5 1.10 has no half type: IEEE binary16 as h5py defines it (copy of f32, then reshaped). */
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) return t;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 || H5Tset_ebias(t, 15) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}
static inline size_t chdf5_variable_size(void) { return H5T_VARIABLE; }
static inline unsigned chdf5_acc_trunc(void) { return H5F_ACC_TRUNC; }
static inline unsigned chdf5_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned chdf5_acc_rdwr(void) { return H5F_ACC_RDWR; }
static inline hid_t chdf5_dataset_create_plist(void) { return H5P_DATASET_CREATE; }
static inline hid_t chdf5_dataset_access_plist(void) { return H5P_DATASET_ACCESS; }
static inline hid_t chdf5_file_access_plist(void) { return H5P_FILE_ACCESS; }

static inline hid_t chdf5_native_uint16(void) { return H5T_NATIVE_UINT16; }
static inline hid_t chdf5_link_create_plist(void) { return H5P_LINK_CREATE; }
static inline hid_t chdf5_file_create_plist(void) { return H5P_FILE_CREATE; }
static inline hid_t chdf5_group_create_plist(void) { return H5P_GROUP_CREATE; }

/* Silences HDF5's automatic error-stack printing: TacoKit reports errors itself (chdf5_last_error). */
static inline void chdf5_silence_errors(void) { (void)H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

typedef struct { char *text; int filter_failed; } chdf5_error_walk_;

static herr_t chdf5_collect_(unsigned n, const H5E_error2_t *e, void *data) {
    chdf5_error_walk_ *walk = (chdf5_error_walk_ *)data;
    if (e->desc && e->desc[0]) {
        size_t used = strlen(walk->text);
        if (used < 1000) snprintf(walk->text + used, 1024 - used, "%s%s", used ? "; " : "", e->desc);
    }
    if (e->maj_num == H5E_PLINE) walk->filter_failed = 1;
    (void)n;
    return 0;
}

/* The descriptions on the current thread's HDF5 error stack, innermost first, into buf (1024 bytes); returns 1
 * when the filter pipeline failed (a chunk that does not inflate or fails its Fletcher32 checksum), else 0. */
static inline int chdf5_last_error(char *buf) {
    chdf5_error_walk_ walk = { buf, 0 };
    buf[0] = 0;
    (void)H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, chdf5_collect_, &walk);
    (void)H5Eclear2(H5E_DEFAULT);
    return walk.filter_failed;
}

/* zlib, for inflating raw chunks outside HDF5's lock (Shards.ChunkDecoder). */
#include <zlib.h>

/* HDF5's own Fletcher32 (exported by libhdf5, declared in its private H5private.h): a pure function, safe to
 * call from any thread, so a chunk read raw with H5Dread_chunk is verified exactly as HDF5's filter does. */
extern uint32_t H5_checksum_fletcher32(const void *data, size_t len);

#endif
