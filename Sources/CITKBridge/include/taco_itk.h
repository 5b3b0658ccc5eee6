/*
 * taco_itk.h: TacoKit's plain C face of ITK 5.2 and GDCM.
 *
 * Rules every function follows:
 *  - No ITK type and no C++ exception crosses this header. Every call returns a taco_status;
 *    on failure taco_last_error() gives a message (per thread, valid until the next call on it).
 *  - Ownership is explicit: output voxel buffers are caller-allocated (the size follows from a
 *    geometry the caller knows or obtains first), except where a function says it allocates, in
 *    which case the matching taco_*_free releases it.
 *  - Geometry is ITK/DICOM LPS, in mm. Voxel buffers are x-fastest (ITK's layout).
 *    index -> point: origin + direction * (spacing .* index); direction is row-major 3x3 whose
 *    columns are the directions of the x, y and z axes.
 *  - Transforms are 4x4 row-major matrices over homogeneous LPS points and map a point of the
 *    fixed/output space to the moving/input space (ITK's convention for resampling).
 */
#ifndef TACO_ITK_H
#define TACO_ITK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Outcome of a bridge call. */
typedef enum {
    TACO_OK = 0,
    /** The input was not valid for the call (sizes, null pointers, 4D image, ...). */
    TACO_ERR_INVALID_ARGUMENT = 1,
    /** A file could not be read or written. */
    TACO_ERR_IO = 2,
    /** ITK or GDCM reported an error while computing. */
    TACO_ERR_COMPUTE = 3,
} taco_status;

/** The message of the last failed call on this thread (never NULL; empty after success). */
const char *taco_last_error(void);

/** Sets the number of threads ITK filters use (n >= 1); 0 restores ITK's default. */
void taco_set_threads(uint32_t n);
/** The number of threads ITK filters currently use. */
uint32_t taco_get_threads(void);

/** A 3D image grid in LPS. */
typedef struct {
    uint32_t size[3];
    double spacing[3];
    double origin[3];
    double direction[9];
} taco_geometry;

/** Voxel types an image file can store (values follow ITK's IOComponentEnum names). */
typedef enum {
    TACO_VOXEL_UNKNOWN = 0,
    TACO_VOXEL_UINT8, TACO_VOXEL_INT8, TACO_VOXEL_UINT16, TACO_VOXEL_INT16,
    TACO_VOXEL_UINT32, TACO_VOXEL_INT32, TACO_VOXEL_UINT64, TACO_VOXEL_INT64,
    TACO_VOXEL_FLOAT32, TACO_VOXEL_FLOAT64,
} taco_voxel_type;

/** What an image file holds, read from its header only. */
typedef struct {
    taco_geometry geometry;
    taco_voxel_type voxel_type;
    /** Dimensions the file declares (2, 3, 4, ...); 2D images have size[2] == 1. */
    uint32_t dimensions;
    /** Components per voxel (1 for scalar images). */
    uint32_t components;
} taco_image_info;

/* ---------- image files (NIfTI, NRRD, MetaImage, and anything else ITK reads) ---------- */

/** Reads an image file's header. Fails for files with more than three non-trivial dimensions. */
taco_status taco_image_read_info(const char *path, taco_image_info *info);

/**
 * Reads a scalar 2D or 3D image as float32. `voxels` must hold size[0]*size[1]*size[2] floats of
 * the geometry taco_image_read_info reported (`capacity` is its length in floats).
 */
taco_status taco_image_read(const char *path, taco_geometry *geometry, float *voxels, size_t capacity);

/** Writes a float32 image; the format follows the extension (.nii, .nii.gz, .mha, .mhd, .nrrd). */
taco_status taco_image_write(const char *path, const taco_geometry *geometry, const float *voxels);

/* ---------- resampling ---------- */

typedef enum {
    TACO_INTERPOLATE_NEAREST = 0,
    TACO_INTERPOLATE_LINEAR = 1,
    TACO_INTERPOLATE_BSPLINE = 2,
} taco_interpolation;

/**
 * Resamples `input` onto `output_geometry`. An output point p is mapped to the input point
 * A * (p + u(p)), where A is `transform` (NULL: identity) and u is the optional displacement
 * field (`field`, 3 floats per voxel, LPS mm, on `field_geometry`; NULL: none). Points outside
 * the input get `default_value`. `output` is caller-allocated (voxels of output_geometry).
 */
taco_status taco_resample(const taco_geometry *input_geometry, const float *input,
                          const taco_geometry *output_geometry, float *output,
                          const double transform[16],
                          const taco_geometry *field_geometry, const float *field,
                          taco_interpolation interpolation, float default_value);

/**
 * As taco_resample for `components` (2 to 4) images on one grid at once, stored interleaved
 * (component fastest): the transform is evaluated once per output voxel for all of them. `output`
 * holds components x voxels of output_geometry. Nearest or linear interpolation.
 */
taco_status taco_resample_components(const taco_geometry *input_geometry, const float *input, uint32_t components,
                                     const taco_geometry *output_geometry, float *output,
                                     const double transform[16],
                                     const taco_geometry *field_geometry, const float *field,
                                     taco_interpolation interpolation, float default_value);

/* ---------- registration ---------- */

/** Levels of a multi-resolution schedule, coarse first. */
#define TACO_MAX_LEVELS 6

typedef enum { TACO_TRANSFORM_RIGID = 0, TACO_TRANSFORM_AFFINE = 1 } taco_linear_kind;

/** Options of a linear (rigid or affine) registration with Mattes mutual information. */
typedef struct {
    taco_linear_kind kind;
    uint32_t levels;
    /** Shrink factor per level (e.g. 4, 2, 1). */
    uint32_t shrink[TACO_MAX_LEVELS];
    /** Gaussian smoothing sigma per level, in mm. */
    double smoothing_mm[TACO_MAX_LEVELS];
    /** Maximum optimiser iterations per level. */
    uint32_t iterations[TACO_MAX_LEVELS];
    /** Fraction of fixed voxels sampled on a regular grid (0 < f <= 1). */
    double sampling_fraction;
    uint32_t histogram_bins;
    /** Largest step of the regular-step gradient descent, in mm of physical shift. */
    double learning_rate;
    /** Optimiser stops when the step falls below this. */
    double minimum_step;
} taco_linear_options;

/** An image with its geometry; `mask` optional (non-zero = inside), same grid as the image. */
typedef struct {
    const taco_geometry *geometry;
    const float *voxels;
    const float *mask;
} taco_image_view;

typedef struct {
    /** Maps fixed points to moving points (LPS, row-major 4x4). */
    double transform[16];
    /** Final metric value (negative mutual information: lower is better). */
    double metric;
    /** Optimiser iterations used, summed over levels. */
    uint32_t iterations;
} taco_linear_result;

/**
 * Rigid (6 dof) or affine (12 dof) registration of `moving` to `fixed`. The transform starts from
 * `initial` (fixed -> moving; NULL: the moving image's geometric centre moved onto the fixed one's).
 */
taco_status taco_register_linear(taco_image_view fixed, taco_image_view moving,
                                 const double initial[16], const taco_linear_options *options,
                                 taco_linear_result *result);

typedef enum {
    /** Local cross-correlation (ANTs' neighbourhood CC): the usual choice within one contrast. */
    TACO_METRIC_CC = 0,
    /** Mattes mutual information: across contrasts. */
    TACO_METRIC_MATTES = 1,
    /** Mean squared difference: identical contrast and intensity scale. */
    TACO_METRIC_MEAN_SQUARES = 2,
} taco_deformable_metric;

/** Options of SyN (symmetric normalisation) deformable registration, ITK's v4 framework. */
typedef struct {
    taco_deformable_metric metric;
    uint32_t cc_radius;
    uint32_t histogram_bins;
    uint32_t levels;
    uint32_t shrink[TACO_MAX_LEVELS];
    double smoothing_mm[TACO_MAX_LEVELS];
    uint32_t iterations[TACO_MAX_LEVELS];
    double learning_rate;
    /** Gaussian smoothing variance (voxels^2) of the update field and of the total field. */
    double update_variance;
    double total_variance;
} taco_deformable_options;

typedef struct {
    double metric;
    uint32_t iterations;
} taco_deformable_result;

/**
 * SyN registration of `moving` to `fixed` after the linear transform `initial` (fixed -> moving;
 * NULL: identity). Writes `forward` (3 floats per fixed voxel, LPS mm), such that a fixed point p
 * corresponds to the moving point initial(p + forward(p)); and, if non-NULL, `inverse` on the same
 * grid, such that q + inverse(q) undoes p -> p + forward(p). Both buffers are caller-allocated.
 */
taco_status taco_register_deformable(taco_image_view fixed, taco_image_view moving,
                                     const double initial[16], const taco_deformable_options *options,
                                     float *forward, float *inverse, taco_deformable_result *result);

/**
 * Options of TacoKit's own deformable registration (greedy, after Yushkevich's "greedy"): local normalised
 * cross-correlation computed with running box sums, compositive updates smoothed by a Gaussian, the total
 * field smoothed too; one-directional (fixed -> moving), on float fields, in slabs over `threads` threads
 * with results that do not depend on the thread count.
 */
typedef struct {
    uint32_t levels;
    /** Shrink factor of the fixed grid per level, coarse first; the last must be 1. */
    uint32_t shrink[TACO_MAX_LEVELS];
    /** Gaussian sigma (mm) both images are smoothed with at each level. */
    double smoothing_mm[TACO_MAX_LEVELS];
    /** Iterations per level (0 allowed: the level only carries the field to the next grid). */
    uint32_t iterations[TACO_MAX_LEVELS];
    /** Half-width of the correlation window, voxels of the level's grid (2: 5x5x5). */
    uint32_t radius;
    /** Largest displacement an update may add, voxels of the level's grid. */
    double step;
    /** Gaussian sigma (voxels) of each update, and of the total field after each update. */
    double update_sigma;
    double total_sigma;
    /** Fixed-point iterations of the inverse field (0: the inverse is not computed). */
    uint32_t inverse_iterations;
    /** A level stops once its metric has gained less than this over the last 10 iterations (0: never). */
    double convergence;
    /** Worker threads (0: taco_get_threads()). */
    uint32_t threads;
} taco_greedy_options;

typedef struct {
    /** Mean squared local correlation inside the fixed mask at the finest level (0..1, higher is better). */
    double metric;
    /** Iterations used, summed over levels. */
    uint32_t iterations;
    /** Largest |v(q) + u(q + v(q))| of the inverse inside the grid, mm (0 if no inverse was asked for). */
    double inverse_residual_mm;
} taco_greedy_result;

/**
 * Greedy registration of `moving` to `fixed` after the linear transform `initial` (fixed -> moving; NULL:
 * identity), with the field convention of taco_register_deformable: fixed point p corresponds to moving
 * point initial(p + forward(p)), q + inverse(q) undoes p -> p + forward(p). The fixed mask, if any,
 * restricts the metric; the moving mask is not used.
 */
taco_status taco_register_greedy(taco_image_view fixed, taco_image_view moving, const double initial[16],
                                 const taco_greedy_options *options, float *forward, float *inverse,
                                 taco_greedy_result *result);

/* ---------- bias correction ---------- */

/**
 * N4 bias-field correction in place: the field is fitted on the image shrunk by `shrink` inside `mask`
 * (non-zero = inside; same grid), with `levels` fitting levels of at most `iterations[l]` iterations,
 * then evaluated at full resolution and divided out. Images with values <= 0 inside the mask are
 * shifted to positive values for the fit and shifted back. Fails on an empty mask.
 */
taco_status taco_n4_bias_correct(const taco_geometry *geometry, float *voxels, const float *mask,
                                 uint32_t shrink, const uint32_t *iterations, size_t levels);

/* ---------- masks ---------- */

/**
 * A foreground mask: voxels above `threshold`, then the largest 26-connected component, then holes
 * filled (3D). `mask` (caller-allocated, voxels of geometry) gets 1 inside, 0 outside. Fails when no
 * voxel is above the threshold. `voxels_inside` (optional) receives the mask's voxel count.
 */
taco_status taco_foreground_mask(const taco_geometry *geometry, const float *voxels, float threshold,
                                 float *mask, size_t *voxels_inside);

/* ---------- DICOM ---------- */

/** Headers of many files, read without decoding pixels. Opaque; free with taco_dicom_scan_free. */
typedef struct taco_dicom_scan taco_dicom_scan;

/**
 * Reads the listed tags ("gggg,eeee", hexadecimal) of each file, stopping before the pixel data.
 * Files that are not DICOM are marked unreadable, with a reason; the call itself fails only for
 * invalid arguments. Binary values (US, FD, ...) come back as text, multiple values split by '\'.
 */
taco_status taco_dicom_scan_files(const char *const *paths, size_t path_count,
                                  const char *const *tags, size_t tag_count, taco_dicom_scan **scan);
/** Whether file i was read as DICOM. */
int taco_dicom_scan_is_readable(const taco_dicom_scan *scan, size_t file);
/** Why file i could not be read (empty if it could). */
const char *taco_dicom_scan_failure(const taco_dicom_scan *scan, size_t file);
/** Tag j's value in file i, trimmed of DICOM padding; NULL when absent. */
const char *taco_dicom_scan_value(const taco_dicom_scan *scan, size_t file, size_t tag);
void taco_dicom_scan_free(taco_dicom_scan *scan);

/**
 * Reads a series from its files, given in slice order, as float32 with the rescale slope and
 * intercept applied. Call with voxels == NULL to learn the geometry first.
 */
taco_status taco_dicom_read_series(const char *const *paths, size_t path_count,
                                   taco_geometry *geometry, float *voxels, size_t capacity);

/** A tag to write: "gggg|eeee" and its value. */
typedef struct {
    const char *tag;
    const char *value;
} taco_dicom_tag;

typedef enum {
    TACO_DICOM_UNCOMPRESSED = 0,
    TACO_DICOM_JPEG_LOSSLESS = 1,
    TACO_DICOM_JPEG2000_LOSSLESS = 2,
    TACO_DICOM_JPEGLS_LOSSLESS = 3,
    TACO_DICOM_RLE_LOSSLESS = 4,
} taco_dicom_compression;

/**
 * Writes a 3D image as one Enhanced MR Image Storage file (all slices as frames, geometry in the
 * shared and per-frame functional groups), int16 with the given rescale; `tags` as for
 * taco_dicom_write_series (SOPClassUID is set to Enhanced MR). Modern scanners export this way.
 */
taco_status taco_dicom_write_multiframe(const taco_geometry *geometry, const float *voxels, double slope,
                                        double intercept, const taco_dicom_tag *tags, size_t tag_count,
                                        const char *path);

/**
 * Writes a 3D image as one DICOM file per slice (z), stored as int16 with the given rescale:
 * stored = round((value - intercept) / slope). `paths` names size[2] files. Geometry tags
 * (ImagePositionPatient, ImageOrientationPatient, PixelSpacing, SliceThickness,
 * SpacingBetweenSlices, InstanceNumber) follow from `geometry`; `tags` add the series' tags and
 * must include SeriesInstanceUID (0020|000e). Slice i gets InstanceNumber first_instance + i and
 * SOPInstanceUID = series UID + "." + InstanceNumber.
 */
taco_status taco_dicom_write_series(const taco_geometry *geometry, const float *voxels,
                                    double rescale_slope, double rescale_intercept,
                                    const taco_dicom_tag *tags, size_t tag_count,
                                    const char *const *paths, uint32_t first_instance,
                                    taco_dicom_compression compression);

#ifdef __cplusplus
}
#endif

#endif
