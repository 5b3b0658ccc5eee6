// Foreground masks: threshold, largest connected component, hole filling.
#include "bridge_internal.h"

#include <itkBinaryFillholeImageFilter.h>
#include <itkBinaryThresholdImageFilter.h>
#include <itkConnectedComponentImageFilter.h>
#include <itkRelabelComponentImageFilter.h>

#include <limits>

using namespace taco;

extern "C" taco_status taco_foreground_mask(const taco_geometry *geometry, const float *voxels, float threshold,
                                            float *mask, size_t *voxels_inside) {
    return guarded("foreground mask", [&] {
        if (!geometry || !voxels || !mask) fail(TACO_ERR_INVALID_ARGUMENT, "missing argument");
        validate(*geometry, "image");
        using Binary = itk::Image<uint8_t, 3>;
        using Labels = itk::Image<uint32_t, 3>;
        auto image = wrap(*geometry, voxels);
        auto above = itk::BinaryThresholdImageFilter<FloatImage, Binary>::New();
        above->SetInput(image);
        above->SetLowerThreshold(std::nextafter(threshold, std::numeric_limits<float>::max()));
        above->SetUpperThreshold(std::numeric_limits<float>::max());
        above->SetInsideValue(1);
        above->SetOutsideValue(0);
        auto components = itk::ConnectedComponentImageFilter<Binary, Labels>::New();
        components->SetInput(above->GetOutput());
        components->FullyConnectedOn();
        auto relabel = itk::RelabelComponentImageFilter<Labels, Labels>::New();  // label 1 = largest
        relabel->SetInput(components->GetOutput());
        relabel->Update();
        if (relabel->GetNumberOfObjects() == 0) fail(TACO_ERR_INVALID_ARGUMENT, "no voxel above the threshold: empty mask");
        auto largest = itk::BinaryThresholdImageFilter<Labels, Binary>::New();
        largest->SetInput(relabel->GetOutput());
        largest->SetLowerThreshold(1);
        largest->SetUpperThreshold(1);
        largest->SetInsideValue(1);
        largest->SetOutsideValue(0);
        auto filled = itk::BinaryFillholeImageFilter<Binary>::New();
        filled->SetInput(largest->GetOutput());
        filled->SetForegroundValue(1);
        filled->FullyConnectedOn();
        filled->Update();
        const uint8_t *out = filled->GetOutput()->GetBufferPointer();
        const size_t n = voxel_count(*geometry);
        size_t inside = 0;
        for (size_t i = 0; i < n; ++i) {
            mask[i] = out[i];
            inside += out[i];
        }
        if (voxels_inside) *voxels_inside = inside;
    });
}
