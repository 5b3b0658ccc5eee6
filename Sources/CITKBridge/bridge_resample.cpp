// Resampling through an affine transform and an optional displacement field.
#include "bridge_internal.h"

#include <itkBSplineInterpolateImageFunction.h>
#include <itkCompositeTransform.h>
#include <itkDisplacementFieldTransform.h>
#include <itkLinearInterpolateImageFunction.h>
#include <itkNearestNeighborInterpolateImageFunction.h>
#include <itkResampleImageFilter.h>

#include <cstring>

using namespace taco;

namespace {

using Composite = itk::CompositeTransform<double, 3>;

/** p -> A(p + u(p)): the field acts on the output point, then the affine maps into the input. */
Composite::Pointer output_to_input(const double *transform, const taco_geometry *field_geometry, const float *field) {
    auto composite = Composite::New();
    // A composite applies its transforms last-added first.
    if (transform) composite->AddTransform(affine_from_matrix(transform));
    if (field) {
        if (!field_geometry) fail(TACO_ERR_INVALID_ARGUMENT, "a displacement field needs its geometry");
        validate(*field_geometry, "displacement field");
        auto displacement = itk::DisplacementFieldTransform<double, 3>::New();
        displacement->SetDisplacementField(field_image(*field_geometry, field));
        composite->AddTransform(displacement);
    }
    if (composite->GetNumberOfTransforms() == 0) {
        const double identity[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
        composite->AddTransform(affine_from_matrix(identity));
    }
    return composite;
}

}  // namespace

extern "C" taco_status taco_resample(const taco_geometry *input_geometry, const float *input,
                                     const taco_geometry *output_geometry, float *output,
                                     const double transform[16], const taco_geometry *field_geometry,
                                     const float *field, taco_interpolation interpolation, float default_value) {
    return guarded("resample", [&] {
        if (!input_geometry || !output_geometry || !output) fail(TACO_ERR_INVALID_ARGUMENT, "missing argument");
        validate(*input_geometry, "input image");
        validate(*output_geometry, "output grid");
        auto image = wrap(*input_geometry, input);

        auto composite = output_to_input(transform, field_geometry, field);

        using Resample = itk::ResampleImageFilter<FloatImage, FloatImage, double, double>;
        auto resample = Resample::New();
        resample->SetInput(image);
        resample->SetTransform(composite);
        resample->SetDefaultPixelValue(default_value);
        auto target = FloatImage::New();
        apply_geometry(target.GetPointer(), *output_geometry);
        resample->SetOutputParametersFromImage(target);
        switch (interpolation) {
        case TACO_INTERPOLATE_NEAREST:
            resample->SetInterpolator(itk::NearestNeighborInterpolateImageFunction<FloatImage, double>::New());
            break;
        case TACO_INTERPOLATE_LINEAR:
            resample->SetInterpolator(itk::LinearInterpolateImageFunction<FloatImage, double>::New());
            break;
        case TACO_INTERPOLATE_BSPLINE: {
            auto bspline = itk::BSplineInterpolateImageFunction<FloatImage, double, double>::New();
            bspline->SetSplineOrder(3);
            resample->SetInterpolator(bspline);
            break;
        }
        default: fail(TACO_ERR_INVALID_ARGUMENT, "unknown interpolation");
        }
        // Write straight into the caller's buffer.
        FloatImage *out = resample->GetOutput();
        out->GetPixelContainer()->SetImportPointer(output, voxel_count(*output_geometry), false);
        resample->Update();
        if (out->GetBufferPointer() != output)
            std::memcpy(output, out->GetBufferPointer(), voxel_count(*output_geometry) * sizeof(float));
    });
}

namespace {

/** Resamples an N-channel interleaved buffer with fixed-size vector pixels (no per-voxel allocation,
 * unlike itk::VectorImage, which measured slower than N separate passes). */
template <unsigned N>
void resample_channels(const taco_geometry &input_geometry, const float *input, const taco_geometry &output_geometry,
                       float *output, Composite *transform, taco_interpolation interpolation, float default_value) {
    using Pixel = itk::Vector<float, N>;
    using Stack = itk::Image<Pixel, 3>;
    static_assert(sizeof(Pixel) == N * sizeof(float), "vector pixels must be packed floats");
    auto image = Stack::New();
    apply_geometry(image.GetPointer(), input_geometry);
    image->GetPixelContainer()->SetImportPointer(reinterpret_cast<Pixel *>(const_cast<float *>(input)),
                                                 voxel_count(input_geometry), false);
    using Resample = itk::ResampleImageFilter<Stack, Stack, double, double>;
    auto resample = Resample::New();
    resample->SetInput(image);
    resample->SetTransform(transform);
    Pixel outside;
    outside.Fill(default_value);
    resample->SetDefaultPixelValue(outside);
    auto target = FloatImage::New();
    apply_geometry(target.GetPointer(), output_geometry);
    resample->SetOutputParametersFromImage(target);
    if (interpolation == TACO_INTERPOLATE_NEAREST)
        resample->SetInterpolator(itk::NearestNeighborInterpolateImageFunction<Stack, double>::New());
    else
        resample->SetInterpolator(itk::LinearInterpolateImageFunction<Stack, double>::New());
    Stack *out = resample->GetOutput();
    out->GetPixelContainer()->SetImportPointer(reinterpret_cast<Pixel *>(output), voxel_count(output_geometry), false);
    resample->Update();
    if (reinterpret_cast<float *>(out->GetBufferPointer()) != output)
        std::memcpy(output, out->GetBufferPointer(), voxel_count(output_geometry) * N * sizeof(float));
}

}  // namespace

extern "C" taco_status taco_resample_components(const taco_geometry *input_geometry, const float *input, uint32_t components,
                                                const taco_geometry *output_geometry, float *output,
                                                const double transform[16], const taco_geometry *field_geometry,
                                                const float *field, taco_interpolation interpolation, float default_value) {
    return guarded("resample components", [&] {
        if (!input_geometry || !output_geometry || !output || !input) fail(TACO_ERR_INVALID_ARGUMENT, "missing argument");
        if (interpolation == TACO_INTERPOLATE_BSPLINE)
            fail(TACO_ERR_INVALID_ARGUMENT, "B-spline interpolation is for single images");
        validate(*input_geometry, "input image");
        validate(*output_geometry, "output grid");
        auto composite = output_to_input(transform, field_geometry, field);
        switch (components) {
        case 2: resample_channels<2>(*input_geometry, input, *output_geometry, output, composite, interpolation, default_value); break;
        case 3: resample_channels<3>(*input_geometry, input, *output_geometry, output, composite, interpolation, default_value); break;
        case 4: resample_channels<4>(*input_geometry, input, *output_geometry, output, composite, interpolation, default_value); break;
        default: fail(TACO_ERR_INVALID_ARGUMENT, "2 to 4 channels are supported, not " + std::to_string(components));
        }
    });
}
