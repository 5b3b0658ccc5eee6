/* Shared by the bridge's translation units; never seen by Swift (not under include/). */
#ifndef TACO_BRIDGE_INTERNAL_H
#define TACO_BRIDGE_INTERNAL_H

#include "itk_compiler_compat.h"

#include "taco_itk.h"

#include <itkImage.h>
#include <itkMatrixOffsetTransformBase.h>

#include <stdexcept>
#include <string>

namespace taco {

using FloatImage = itk::Image<float, 3>;
using VectorImage = itk::Image<itk::Vector<double, 3>, 3>;

/** A failure with the status it maps to. Thrown inside the bridge only. */
struct BridgeError : std::runtime_error {
    taco_status status;
    BridgeError(taco_status s, const std::string &message) : std::runtime_error(message), status(s) {}
};

[[noreturn]] inline void fail(taco_status status, const std::string &message) { throw BridgeError(status, message); }

/** Records `message` as this thread's last error. */
void set_last_error(const std::string &message);

/** Runs `body`, turning every exception into a status and a per-thread message. */
template <class Body> taco_status guarded(const char *operation, Body &&body) noexcept {
    try {
        set_last_error("");
        body();
        return TACO_OK;
    } catch (const BridgeError &e) {
        set_last_error(std::string(operation) + ": " + e.what());
        return e.status;
    } catch (const itk::ExceptionObject &e) {
        set_last_error(std::string(operation) + ": " + e.GetDescription());
        return TACO_ERR_COMPUTE;
    } catch (const std::exception &e) {
        set_last_error(std::string(operation) + ": " + e.what());
        return TACO_ERR_COMPUTE;
    } catch (...) {
        set_last_error(std::string(operation) + ": unknown C++ exception");
        return TACO_ERR_COMPUTE;
    }
}

/** Registers the image IO factories TacoKit uses, once per process (SwiftPM has no CMake auto-registration). */
void register_io_factories();

/** Checks a geometry (positive sizes and spacings, invertible direction). */
void validate(const taco_geometry &g, const char *what);

size_t voxel_count(const taco_geometry &g);

/** Copies a taco geometry onto an ITK image (allocating nothing). */
template <class Image> void apply_geometry(Image *image, const taco_geometry &g) {
    typename Image::RegionType region;
    typename Image::SpacingType spacing;
    typename Image::PointType origin;
    typename Image::DirectionType direction;
    for (unsigned i = 0; i < 3; ++i) {
        region.SetSize(i, g.size[i]);
        region.SetIndex(i, 0);
        spacing[i] = g.spacing[i];
        origin[i] = g.origin[i];
        for (unsigned j = 0; j < 3; ++j) direction(i, j) = g.direction[3 * i + j];
    }
    image->SetRegions(region);
    image->SetSpacing(spacing);
    image->SetOrigin(origin);
    image->SetDirection(direction);
}

/** Reads a taco geometry off an ITK image (its largest possible region). */
template <class Image> taco_geometry geometry_of(const Image *image) {
    taco_geometry g{};
    const auto size = image->GetLargestPossibleRegion().GetSize();
    for (unsigned i = 0; i < 3; ++i) {
        g.size[i] = static_cast<uint32_t>(size[i]);
        g.spacing[i] = image->GetSpacing()[i];
        g.origin[i] = image->GetOrigin()[i];
        for (unsigned j = 0; j < 3; ++j) g.direction[3 * i + j] = image->GetDirection()(i, j);
    }
    return g;
}

/** An ITK image over caller memory (no copy; ITK never frees it). Inputs are never written. */
FloatImage::Pointer wrap(const taco_geometry &g, const float *voxels);
/** A double-precision ITK vector image copied from 3 floats per voxel (ITK's field transforms are double). */
VectorImage::Pointer field_image(const taco_geometry &g, const float *field);

using AffineTransform = itk::MatrixOffsetTransformBase<double, 3, 3>;
/** A 4x4 row-major homogeneous matrix as an ITK affine transform (fixed -> moving). */
AffineTransform::Pointer affine_from_matrix(const double m[16]);
/** The 4x4 row-major matrix of an ITK matrix-offset transform. */
void matrix_from_affine(const AffineTransform *t, double m[16]);

/** Checks that a registration view has an image and a valid geometry. */
void validate_view(const taco_image_view &view, const char *what);
/** Checks a multi-resolution schedule (1..TACO_MAX_LEVELS levels, positive shrink and iterations). */
void validate_schedule(uint32_t levels, const uint32_t *shrink, const uint32_t *iterations);

}  // namespace taco

#endif
