// N4 bias-field correction (Tustison et al. 2010) through ITK.
#include "bridge_internal.h"

#include <itkN4BiasFieldCorrectionImageFilter.h>
#include <itkShrinkImageFilter.h>
#include <itkBSplineControlPointImageFilter.h>

#include <algorithm>

using namespace taco;

extern "C" taco_status taco_n4_bias_correct(const taco_geometry *geometry, float *voxels, const float *mask,
                                            uint32_t shrink, const uint32_t *iterations, size_t levels) {
    return guarded("N4 bias correction", [&] {
        if (!geometry || !voxels || !mask || !iterations || levels == 0) fail(TACO_ERR_INVALID_ARGUMENT, "missing argument");
        validate(*geometry, "image");
        if (shrink < 1) fail(TACO_ERR_INVALID_ARGUMENT, "shrink factor below 1");
        using Binary = itk::Image<uint8_t, 3>;
        const size_t n = voxel_count(*geometry);
        // N4 models log intensities: it needs positive values inside the mask.
        float lowest = 0;
        size_t inside = 0;
        for (size_t i = 0; i < n; ++i) {
            if (mask[i] > 0) {
                lowest = inside == 0 ? voxels[i] : std::min(lowest, voxels[i]);
                ++inside;
            }
        }
        if (inside == 0) fail(TACO_ERR_INVALID_ARGUMENT, "empty mask");
        const float offset = lowest <= 0 ? 1 - lowest : 0;
        std::vector<float> shifted(voxels, voxels + n);
        for (auto &v : shifted) v += offset;
        auto image = wrap(*geometry, shifted.data());
        auto maskImage = Binary::New();
        maskImage->CopyInformation(image);
        maskImage->SetRegions(image->GetLargestPossibleRegion());
        maskImage->Allocate();
        uint8_t *m = maskImage->GetBufferPointer();
        for (size_t i = 0; i < n; ++i) m[i] = mask[i] > 0 ? 1 : 0;

        auto shrinkImage = itk::ShrinkImageFilter<FloatImage, FloatImage>::New();
        shrinkImage->SetInput(image);
        shrinkImage->SetShrinkFactors(shrink);
        auto shrinkMask = itk::ShrinkImageFilter<Binary, Binary>::New();
        shrinkMask->SetInput(maskImage);
        shrinkMask->SetShrinkFactors(shrink);

        using N4 = itk::N4BiasFieldCorrectionImageFilter<FloatImage, Binary, FloatImage>;
        auto n4 = N4::New();
        n4->SetInput(shrinkImage->GetOutput());
        n4->SetMaskImage(shrinkMask->GetOutput());
        n4->SetMaskLabel(1);
        N4::VariableSizeArrayType maximum(static_cast<unsigned>(levels));
        for (size_t l = 0; l < levels; ++l) maximum[l] = iterations[l];
        n4->SetMaximumNumberOfIterations(maximum);
        n4->SetNumberOfFittingLevels(static_cast<unsigned>(levels));
        n4->SetConvergenceThreshold(1e-6);
        n4->Update();

        // The bias field at full resolution from the fitted B-spline lattice.
        using Lattice = N4::BiasFieldControlPointLatticeType;
        auto reconstruct = itk::BSplineControlPointImageFilter<Lattice, Lattice>::New();
        reconstruct->SetInput(n4->GetLogBiasFieldControlPointLattice());
        reconstruct->SetSplineOrder(n4->GetSplineOrder());
        reconstruct->SetSize(image->GetLargestPossibleRegion().GetSize());
        reconstruct->SetOrigin(image->GetOrigin());
        reconstruct->SetSpacing(image->GetSpacing());
        reconstruct->SetDirection(image->GetDirection());
        reconstruct->Update();
        const auto *logField = reconstruct->GetOutput()->GetBufferPointer();
        for (size_t i = 0; i < n; ++i) {
            voxels[i] = static_cast<float>(shifted[i] / std::exp(static_cast<double>(logField[i][0]))) - offset;
        }
    });
}
