// Deformable registration: SyN (symmetric normalisation) in ITK's v4 framework.
#include "bridge_mask.h"

#include <itkANTSNeighborhoodCorrelationImageToImageMetricv4.h>
#include <itkDisplacementFieldTransform.h>
#include <itkDisplacementFieldTransformParametersAdaptor.h>
#include <itkMattesMutualInformationImageToImageMetricv4.h>
#include <itkMeanSquaresImageToImageMetricv4.h>
#include <itkShrinkImageFilter.h>
#include <itkSyNImageRegistrationMethod.h>

using namespace taco;

namespace {

using FieldTransform = itk::DisplacementFieldTransform<double, 3>;
using Field = FieldTransform::DisplacementFieldType;
using SyN = itk::SyNImageRegistrationMethod<FloatImage, FloatImage, FieldTransform>;

/** A zero displacement field on `grid`. */
Field::Pointer zero_field(const FloatImage *grid) {
    auto field = Field::New();
    field->CopyInformation(grid);
    field->SetRegions(grid->GetLargestPossibleRegion());
    field->Allocate();
    field->FillBuffer(Field::PixelType(0.0));
    return field;
}

SyN::ImageMetricType::Pointer make_metric(const taco_deformable_options &o) {
    switch (o.metric) {
    case TACO_METRIC_CC: {
        auto metric = itk::ANTSNeighborhoodCorrelationImageToImageMetricv4<FloatImage, FloatImage>::New();
        itk::Size<3> radius;
        radius.Fill(o.cc_radius ? o.cc_radius : 2);
        metric->SetRadius(radius);
        return metric;
    }
    case TACO_METRIC_MATTES: {
        auto metric = itk::MattesMutualInformationImageToImageMetricv4<FloatImage, FloatImage>::New();
        metric->SetNumberOfHistogramBins(o.histogram_bins ? o.histogram_bins : 32);
        return metric;
    }
    case TACO_METRIC_MEAN_SQUARES: return itk::MeanSquaresImageToImageMetricv4<FloatImage, FloatImage>::New();
    }
    fail(TACO_ERR_INVALID_ARGUMENT, "unknown deformable metric");
}

/** Copies a double-precision vector field into 3 floats per voxel. */
void copy_field(const Field *field, float *out, size_t voxels) {
    const auto *in = field->GetBufferPointer();
    for (size_t i = 0; i < voxels; ++i)
        for (unsigned c = 0; c < 3; ++c) out[3 * i + c] = static_cast<float>(in[i][c]);
}

}  // namespace

extern "C" taco_status taco_register_deformable(taco_image_view fixed_view, taco_image_view moving_view,
                                                const double initial[16], const taco_deformable_options *options,
                                                float *forward, float *inverse, taco_deformable_result *result) {
    return guarded("deformable registration", [&] {
        if (!options || !result || !forward) fail(TACO_ERR_INVALID_ARGUMENT, "missing options, result or field buffer");
        const taco_deformable_options &o = *options;
        validate_view(fixed_view, "fixed");
        validate_view(moving_view, "moving");
        validate_schedule(o.levels, o.shrink, o.iterations);
        if (o.shrink[o.levels - 1] != 1)
            fail(TACO_ERR_INVALID_ARGUMENT, "the last level must have shrink factor 1 (the field lives on the fixed grid)");
        auto fixed = wrap(*fixed_view.geometry, fixed_view.voxels);
        auto moving = wrap(*moving_view.geometry, moving_view.voxels);

        auto transform = FieldTransform::New();
        transform->SetDisplacementField(zero_field(fixed));
        transform->SetInverseDisplacementField(zero_field(fixed));

        auto metric = make_metric(o);
        if (auto mask = mask_object(fixed_view)) metric->SetFixedImageMask(mask);
        if (auto mask = mask_object(moving_view)) metric->SetMovingImageMask(mask);

        auto syn = SyN::New();
        syn->SetFixedImage(fixed);
        syn->SetMovingImage(moving);
        syn->SetMetric(metric);
        syn->SetInitialTransform(transform);
        syn->InPlaceOn();
        if (initial) syn->SetMovingInitialTransform(affine_from_matrix(initial));

        SyN::ShrinkFactorsArrayType shrink(o.levels);
        SyN::SmoothingSigmasArrayType sigmas(o.levels);
        SyN::NumberOfIterationsArrayType iterations(o.levels);
        SyN::TransformParametersAdaptorsContainerType adaptors;
        for (uint32_t l = 0; l < o.levels; ++l) {
            shrink[l] = o.shrink[l];
            sigmas[l] = o.smoothing_mm[l];
            iterations[l] = o.iterations[l];
            // The field of each level lives on the shrunk fixed grid, as the metric sees it.
            auto shrinker = itk::ShrinkImageFilter<FloatImage, FloatImage>::New();
            shrinker->SetShrinkFactors(o.shrink[l]);
            shrinker->SetInput(fixed);
            shrinker->UpdateOutputInformation();
            const FloatImage *level = shrinker->GetOutput();
            auto adaptor = itk::DisplacementFieldTransformParametersAdaptor<FieldTransform>::New();
            adaptor->SetRequiredSpacing(level->GetSpacing());
            adaptor->SetRequiredSize(level->GetLargestPossibleRegion().GetSize());
            adaptor->SetRequiredDirection(level->GetDirection());
            adaptor->SetRequiredOrigin(level->GetOrigin());
            adaptor->SetTransform(transform);
            adaptors.push_back(adaptor);
        }
        syn->SetNumberOfLevels(o.levels);
        syn->SetShrinkFactorsPerLevel(shrink);
        syn->SetSmoothingSigmasPerLevel(sigmas);
        syn->SetSmoothingSigmasAreSpecifiedInPhysicalUnits(true);
        syn->SetNumberOfIterationsPerLevel(iterations);
        syn->SetTransformParametersAdaptorsPerLevel(adaptors);
        syn->SetLearningRate(o.learning_rate > 0 ? o.learning_rate : 0.25);
        syn->SetGaussianSmoothingVarianceForTheUpdateField(o.update_variance > 0 ? o.update_variance : 3.0);
        syn->SetGaussianSmoothingVarianceForTheTotalField(o.total_variance >= 0 ? o.total_variance : 0.0);
        syn->SetConvergenceThreshold(1e-6);
        syn->SetConvergenceWindowSize(10);

        uint32_t used = 0;
        syn->AddObserver(itk::IterationEvent(), [&](const itk::EventObject &) { ++used; });
        syn->Update();

        const size_t n = voxel_count(*fixed_view.geometry);
        const Field *forward_field = transform->GetDisplacementField();
        if (forward_field->GetLargestPossibleRegion().GetNumberOfPixels() != n)
            fail(TACO_ERR_COMPUTE, "SyN returned a field off the fixed grid");
        copy_field(forward_field, forward, n);
        if (inverse) {
            const Field *inverse_field = transform->GetInverseDisplacementField();
            if (!inverse_field) fail(TACO_ERR_COMPUTE, "SyN returned no inverse field");
            copy_field(inverse_field, inverse, n);
        }
        result->metric = syn->GetCurrentMetricValue();
        result->iterations = used;
    });
}
