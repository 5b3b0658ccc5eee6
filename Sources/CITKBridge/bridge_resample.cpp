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

extern "C" taco_status taco_resample(const taco_geometry *input_geometry, const float *input,
                                     const taco_geometry *output_geometry, float *output,
                                     const double transform[16], const taco_geometry *field_geometry,
                                     const float *field, taco_interpolation interpolation, float default_value) {
    return guarded("resample", [&] {
        if (!input_geometry || !output_geometry || !output) fail(TACO_ERR_INVALID_ARGUMENT, "missing argument");
        validate(*input_geometry, "input image");
        validate(*output_geometry, "output grid");
        auto image = wrap(*input_geometry, input);

        using Composite = itk::CompositeTransform<double, 3>;
        auto composite = Composite::New();
        // A composite applies its transforms last-added first: the field acts on the output point,
        // then the affine maps the displaced point into the input image.
        if (transform) composite->AddTransform(affine_from_matrix(transform));
        if (field) {
            if (!field_geometry) fail(TACO_ERR_INVALID_ARGUMENT, "a displacement field needs its geometry");
            validate(*field_geometry, "displacement field");
            using FieldTransform = itk::DisplacementFieldTransform<double, 3>;
            auto displacement = FieldTransform::New();
            displacement->SetDisplacementField(field_image(*field_geometry, field));
            composite->AddTransform(displacement);
        }
        if (composite->GetNumberOfTransforms() == 0) {
            const double identity[16] = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};
            composite->AddTransform(affine_from_matrix(identity));
        }

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
