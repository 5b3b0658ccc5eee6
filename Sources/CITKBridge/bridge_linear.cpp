// Rigid and affine registration: Mattes mutual information, regular-grid sampling, multi-resolution.
#include "bridge_mask.h"

#include <itkAffineTransform.h>
#include <itkCenteredTransformInitializer.h>
#include <itkEuler3DTransform.h>
#include <itkImageRegistrationMethodv4.h>
#include <itkMattesMutualInformationImageToImageMetricv4.h>
#include <itkRegistrationParameterScalesFromPhysicalShift.h>
#include <itkRegularStepGradientDescentOptimizerv4.h>

#include <cstring>

namespace taco {

MaskSpatialObject::Pointer mask_object(const taco_image_view &view) {
    if (!view.mask) return nullptr;
    auto image = MaskSpatialObject::ImageType::New();
    apply_geometry(image.GetPointer(), *view.geometry);
    image->Allocate();
    const size_t n = voxel_count(*view.geometry);
    auto *out = image->GetBufferPointer();
    size_t inside = 0;
    for (size_t i = 0; i < n; ++i) {
        out[i] = view.mask[i] != 0.0f ? 1 : 0;
        inside += out[i];
    }
    if (inside == 0) fail(TACO_ERR_INVALID_ARGUMENT, "mask is empty");
    auto object = MaskSpatialObject::New();
    object->SetImage(image);
    object->Update();
    return object;
}

void validate_view(const taco_image_view &view, const char *what) {
    if (!view.geometry || !view.voxels) fail(TACO_ERR_INVALID_ARGUMENT, std::string("missing ") + what + " image");
    validate(*view.geometry, what);
}

void validate_schedule(uint32_t levels, const uint32_t *shrink, const uint32_t *iterations) {
    if (levels == 0 || levels > TACO_MAX_LEVELS)
        fail(TACO_ERR_INVALID_ARGUMENT, "levels must be 1.." + std::to_string(TACO_MAX_LEVELS));
    for (uint32_t l = 0; l < levels; ++l)
        if (shrink[l] == 0 || iterations[l] == 0)
            fail(TACO_ERR_INVALID_ARGUMENT, "shrink factors and iterations must be positive");
}

namespace {

template <class Transform>
void run_linear(const taco_image_view &fixed_view, const taco_image_view &moving_view, const double *initial,
                const taco_linear_options &o, taco_linear_result &result) {
    auto fixed = wrap(*fixed_view.geometry, fixed_view.voxels);
    auto moving = wrap(*moving_view.geometry, moving_view.voxels);

    auto transform = Transform::New();
    if (initial) {
        auto start = affine_from_matrix(initial);
        itk::Point<double, 3> centre;
        const auto &region = fixed->GetLargestPossibleRegion();
        itk::ContinuousIndex<double, 3> middle;
        for (unsigned i = 0; i < 3; ++i) middle[i] = (region.GetSize(i) - 1) / 2.0;
        fixed->TransformContinuousIndexToPhysicalPoint(middle, centre);
        transform->SetCenter(centre);
        transform->SetMatrix(start->GetMatrix());
        transform->SetOffset(start->GetOffset());
    } else {
        using Initializer = itk::CenteredTransformInitializer<Transform, FloatImage, FloatImage>;
        auto initializer = Initializer::New();
        initializer->SetTransform(transform);
        initializer->SetFixedImage(fixed);
        initializer->SetMovingImage(moving);
        initializer->GeometryOn();
        initializer->InitializeTransform();
    }

    using Metric = itk::MattesMutualInformationImageToImageMetricv4<FloatImage, FloatImage>;
    auto metric = Metric::New();
    metric->SetNumberOfHistogramBins(o.histogram_bins ? o.histogram_bins : 32);
    metric->SetUseMovingImageGradientFilter(false);
    metric->SetUseFixedImageGradientFilter(false);
    if (auto mask = mask_object(fixed_view)) metric->SetFixedImageMask(mask);
    if (auto mask = mask_object(moving_view)) metric->SetMovingImageMask(mask);

    using Optimizer = itk::RegularStepGradientDescentOptimizerv4<double>;
    auto optimizer = Optimizer::New();
    optimizer->SetLearningRate(o.learning_rate > 0 ? o.learning_rate : 1.0);
    optimizer->SetMinimumStepLength(o.minimum_step > 0 ? o.minimum_step : 1e-3);
    optimizer->SetRelaxationFactor(0.5);
    optimizer->SetGradientMagnitudeTolerance(1e-8);
    optimizer->SetNumberOfIterations(o.iterations[0]);
    optimizer->SetDoEstimateLearningRateOnce(false);
    optimizer->SetDoEstimateLearningRateAtEachIteration(false);
    // Not "return best": on the nearly flat, sampled MI surface of the finest level it handed back an
    // early overshoot about one learning rate away from the optimum (2 mm off at 2 mm voxels).
    optimizer->SetReturnBestParametersAndValue(false);
    using Scales = itk::RegistrationParameterScalesFromPhysicalShift<Metric>;
    auto scales = Scales::New();
    scales->SetMetric(metric);
    scales->SetTransformForward(true);
    optimizer->SetScalesEstimator(scales);

    using Registration = itk::ImageRegistrationMethodv4<FloatImage, FloatImage, Transform>;
    auto registration = Registration::New();
    registration->SetFixedImage(fixed);
    registration->SetMovingImage(moving);
    registration->SetMetric(metric);
    registration->SetOptimizer(optimizer);
    registration->SetInitialTransform(transform);
    registration->InPlaceOn();

    typename Registration::ShrinkFactorsArrayType shrink(o.levels);
    typename Registration::SmoothingSigmasArrayType sigmas(o.levels);
    for (uint32_t l = 0; l < o.levels; ++l) {
        shrink[l] = o.shrink[l];
        sigmas[l] = o.smoothing_mm[l];
    }
    registration->SetNumberOfLevels(o.levels);
    registration->SetShrinkFactorsPerLevel(shrink);
    registration->SetSmoothingSigmasPerLevel(sigmas);
    registration->SetSmoothingSigmasAreSpecifiedInPhysicalUnits(true);
    // Regular-grid sampling: random sampling biases the optimum (PLATFORM-NOTES.md).
    registration->SetMetricSamplingStrategy(Registration::MetricSamplingStrategyEnum::REGULAR);
    const double fraction = (o.sampling_fraction > 0 && o.sampling_fraction <= 1) ? o.sampling_fraction : 0.25;
    registration->SetMetricSamplingPercentage(fraction);
    registration->MetricSamplingReinitializeSeed(20260101);

    uint32_t iterations = 0;
    registration->AddObserver(itk::MultiResolutionIterationEvent(), [&](const itk::EventObject &) {
        const auto level = registration->GetCurrentLevel();
        if (level > 0) iterations += static_cast<uint32_t>(optimizer->GetCurrentIteration());
        optimizer->SetNumberOfIterations(o.iterations[level]);
    });
    registration->Update();
    iterations += static_cast<uint32_t>(optimizer->GetCurrentIteration());

    matrix_from_affine(transform.GetPointer(), result.transform);
    result.metric = optimizer->GetValue();
    result.iterations = iterations;
}

}  // namespace
}  // namespace taco

using namespace taco;

extern "C" taco_status taco_register_linear(taco_image_view fixed, taco_image_view moving, const double initial[16],
                                            const taco_linear_options *options, taco_linear_result *result) {
    return guarded("linear registration", [&] {
        if (!options || !result) fail(TACO_ERR_INVALID_ARGUMENT, "missing options or result");
        validate_view(fixed, "fixed");
        validate_view(moving, "moving");
        validate_schedule(options->levels, options->shrink, options->iterations);
        switch (options->kind) {
        case TACO_TRANSFORM_RIGID: run_linear<itk::Euler3DTransform<double>>(fixed, moving, initial, *options, *result); break;
        case TACO_TRANSFORM_AFFINE: run_linear<itk::AffineTransform<double, 3>>(fixed, moving, initial, *options, *result); break;
        default: fail(TACO_ERR_INVALID_ARGUMENT, "unknown transform kind");
        }
    });
}
