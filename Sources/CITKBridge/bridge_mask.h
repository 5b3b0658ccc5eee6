/* Masks as ITK spatial objects, shared by the registration translation units. */
#ifndef TACO_BRIDGE_MASK_H
#define TACO_BRIDGE_MASK_H
#include "bridge_internal.h"
#include <itkImageMaskSpatialObject.h>
namespace taco {
using MaskSpatialObject = itk::ImageMaskSpatialObject<3>;
/** A mask spatial object (non-zero voxels inside) over `view.mask`, or null when there is none. */
MaskSpatialObject::Pointer mask_object(const taco_image_view &view);
}  // namespace taco
#endif
