// Errors, threads, IO factories, geometry helpers and image files.
#include "bridge_internal.h"

#include <gdcmImageHelper.h>
#include <gdcmTrace.h>

#include <itkGDCMImageIOFactory.h>
#include <itkImageFileReader.h>
#include <itkImageFileWriter.h>
#include <itkImageIOFactory.h>
#include <itkMetaImageIOFactory.h>
#include <itkMultiThreaderBase.h>
#include <itkNiftiImageIOFactory.h>
#include <itkNrrdImageIOFactory.h>
#include <itkPNGImageIOFactory.h>
#include <itkRGBPixel.h>
#include <itksys/SystemTools.hxx>

#include <cmath>
#include <cstring>
#include <iostream>
#include <sstream>
#include <algorithm>
#include <mutex>
#include <thread>

namespace taco {

namespace {
thread_local std::string last_error;
}

void set_last_error(const std::string &message) { last_error = message; }

void register_io_factories() {
    static std::once_flag once;
    std::call_once(once, [] {
        // Apply Rescale Slope/Intercept for every SOP class, MR included (GDCM skips them for classic
        // MR Image Storage by default; vendors such as Philips store real scalings there, and dcm2niix applies them).
        gdcm::ImageHelper::SetForceRescaleInterceptSlope(true);
        // Library warnings would interleave with a batch's progress output; failures still come back as errors.
        gdcm::Trace::WarningOff();
        itk::Object::GlobalWarningDisplayOff();
        itk::NiftiImageIOFactory::RegisterOneFactory();
        itk::NrrdImageIOFactory::RegisterOneFactory();
        itk::MetaImageIOFactory::RegisterOneFactory();
        itk::GDCMImageIOFactory::RegisterOneFactory();
        itk::PNGImageIOFactory::RegisterOneFactory();
    });
}

size_t voxel_count(const taco_geometry &g) {
    return static_cast<size_t>(g.size[0]) * g.size[1] * g.size[2];
}

void validate(const taco_geometry &g, const char *what) {
    for (int i = 0; i < 3; ++i) {
        if (g.size[i] == 0) fail(TACO_ERR_INVALID_ARGUMENT, std::string(what) + " has an empty axis");
        if (!(g.spacing[i] > 0) || !std::isfinite(g.spacing[i]))
            fail(TACO_ERR_INVALID_ARGUMENT, std::string(what) + " has a non-positive spacing");
    }
    const double *d = g.direction;
    const double det = d[0] * (d[4] * d[8] - d[5] * d[7]) - d[1] * (d[3] * d[8] - d[5] * d[6]) +
                       d[2] * (d[3] * d[7] - d[4] * d[6]);
    if (!(std::fabs(det) > 1e-6)) fail(TACO_ERR_INVALID_ARGUMENT, std::string(what) + " has a singular direction matrix");
}

FloatImage::Pointer wrap(const taco_geometry &g, const float *voxels) {
    if (!voxels) fail(TACO_ERR_INVALID_ARGUMENT, "missing voxel buffer");
    auto image = FloatImage::New();
    apply_geometry(image.GetPointer(), g);
    image->GetPixelContainer()->SetImportPointer(const_cast<float *>(voxels), voxel_count(g), false);
    return image;
}

VectorImage::Pointer field_image(const taco_geometry &g, const float *field) {
    if (!field) fail(TACO_ERR_INVALID_ARGUMENT, "missing displacement field buffer");
    auto image = VectorImage::New();
    apply_geometry(image.GetPointer(), g);
    image->Allocate();
    auto *out = image->GetBufferPointer();
    const size_t n = voxel_count(g);
    for (size_t i = 0; i < n; ++i)
        for (unsigned c = 0; c < 3; ++c) out[i][c] = field[3 * i + c];
    return image;
}

AffineTransform::Pointer affine_from_matrix(const double m[16]) {
    auto t = AffineTransform::New();
    AffineTransform::MatrixType matrix;
    AffineTransform::OutputVectorType translation;
    for (unsigned i = 0; i < 3; ++i) {
        for (unsigned j = 0; j < 3; ++j) matrix(i, j) = m[4 * i + j];
        translation[i] = m[4 * i + 3];
    }
    if (m[12] != 0 || m[13] != 0 || m[14] != 0 || m[15] != 1)
        fail(TACO_ERR_INVALID_ARGUMENT, "transform's last row must be (0, 0, 0, 1)");
    t->SetMatrix(matrix);
    t->SetOffset(translation);
    return t;
}

void matrix_from_affine(const AffineTransform *t, double m[16]) {
    const auto &matrix = t->GetMatrix();
    const auto &offset = t->GetOffset();
    for (unsigned i = 0; i < 3; ++i) {
        for (unsigned j = 0; j < 3; ++j) m[4 * i + j] = matrix(i, j);
        m[4 * i + 3] = offset[i];
    }
    m[12] = m[13] = m[14] = 0;
    m[15] = 1;
}

namespace {

taco_voxel_type voxel_type_of(itk::IOComponentEnum c) {
    using C = itk::IOComponentEnum;
    switch (c) {
    case C::UCHAR: return TACO_VOXEL_UINT8;
    case C::CHAR: return TACO_VOXEL_INT8;
    case C::USHORT: return TACO_VOXEL_UINT16;
    case C::SHORT: return TACO_VOXEL_INT16;
    case C::UINT: return TACO_VOXEL_UINT32;
    case C::INT: return TACO_VOXEL_INT32;
    case C::ULONG: case C::ULONGLONG: return TACO_VOXEL_UINT64;
    case C::LONG: case C::LONGLONG: return TACO_VOXEL_INT64;
    case C::FLOAT: return TACO_VOXEL_FLOAT32;
    case C::DOUBLE: return TACO_VOXEL_FLOAT64;
    default: return TACO_VOXEL_UNKNOWN;
    }
}

/** Opens `path` with whichever registered ImageIO claims it and reads its header. */
itk::ImageIOBase::Pointer open_image_io(const char *path) {
    if (!path) fail(TACO_ERR_INVALID_ARGUMENT, "missing path");
    register_io_factories();
    if (!itksys::SystemTools::FileExists(path, true))
        fail(TACO_ERR_IO, std::string(path) + ": no such file");
    auto io = itk::ImageIOFactory::CreateImageIO(path, itk::ImageIOFactory::IOFileModeEnum::ReadMode);
    if (!io) fail(TACO_ERR_IO, std::string(path) + ": not an image file TacoKit can read (NIfTI, NRRD, MetaImage)");
    io->SetFileName(path);
    try {
        io->ReadImageInformation();
    } catch (const itk::ExceptionObject &e) {
        fail(TACO_ERR_IO, std::string(path) + ": unreadable header: " + e.GetDescription());
    }
    return io;
}

/**
 * Runs `body` with std::cerr captured, and returns what was written. MetaIO reports a short data read
 * only on std::cerr and returns normally; this turns such reports into errors. A lock keeps two
 * captures from swapping the stream buffer at once.
 */
template <class Body> std::string capturing_cerr(Body &&body) {
    static std::mutex lock;
    std::lock_guard<std::mutex> guard(lock);
    std::ostringstream captured;
    std::streambuf *previous = std::cerr.rdbuf(captured.rdbuf());
    try {
        body();
    } catch (...) {
        std::cerr.rdbuf(previous);
        throw;
    }
    std::cerr.rdbuf(previous);
    return captured.str();
}

taco_image_info info_of(const itk::ImageIOBase *io, const char *path) {
    taco_image_info info{};
    const unsigned dims = io->GetNumberOfDimensions();
    info.dimensions = dims;
    info.components = io->GetNumberOfComponents();
    info.voxel_type = voxel_type_of(io->GetComponentType());
    for (unsigned d = 3; d < dims; ++d)
        if (io->GetDimensions(d) > 1)
            fail(TACO_ERR_INVALID_ARGUMENT, std::string(path) + ": " + std::to_string(dims) + "D image with " +
                                                std::to_string(io->GetDimensions(d)) +
                                                " volumes; a 3D image is needed");
    for (unsigned i = 0; i < 3; ++i) {
        const bool present = i < dims;
        info.geometry.size[i] = present ? static_cast<uint32_t>(io->GetDimensions(i)) : 1;
        info.geometry.spacing[i] = present ? io->GetSpacing(i) : 1.0;
        info.geometry.origin[i] = present ? io->GetOrigin(i) : 0.0;
        for (unsigned j = 0; j < 3; ++j) {
            double value = (i == j) ? 1.0 : 0.0;
            if (i < dims && j < dims) value = io->GetDirection(j)[i];
            info.geometry.direction[3 * i + j] = value;
        }
    }
    return info;
}

}  // namespace
}  // namespace taco

using namespace taco;

extern "C" {

const char *taco_last_error(void) { return last_error.c_str(); }

void taco_set_threads(uint32_t n) {
    if (n == 0) n = std::max(1u, std::thread::hardware_concurrency());
    itk::MultiThreaderBase::SetGlobalMaximumNumberOfThreads(std::max<uint32_t>(n, 1));
    itk::MultiThreaderBase::SetGlobalDefaultNumberOfThreads(n);
}

uint32_t taco_get_threads(void) {
    return static_cast<uint32_t>(itk::MultiThreaderBase::GetGlobalDefaultNumberOfThreads());
}

taco_status taco_image_read_info(const char *path, taco_image_info *info) {
    return guarded("read image header", [&] {
        if (!info) fail(TACO_ERR_INVALID_ARGUMENT, "missing output");
        auto io = open_image_io(path);
        *info = info_of(io.GetPointer(), path);
    });
}

taco_status taco_image_read(const char *path, taco_geometry *geometry, float *voxels, size_t capacity) {
    return guarded("read image", [&] {
        if (!geometry || !voxels) fail(TACO_ERR_INVALID_ARGUMENT, "missing output");
        auto io = open_image_io(path);
        const taco_image_info info = info_of(io.GetPointer(), path);
        if (info.components != 1)
            fail(TACO_ERR_INVALID_ARGUMENT, std::string(path) + ": " + std::to_string(info.components) +
                                                " components per voxel; a scalar image is needed");
        if (capacity < voxel_count(info.geometry))
            fail(TACO_ERR_INVALID_ARGUMENT, std::string(path) + ": output buffer too small");
        auto reader = itk::ImageFileReader<FloatImage>::New();
        reader->SetFileName(path);
        reader->SetImageIO(io);
        std::string messages;
        try {
            messages = capturing_cerr([&] { reader->Update(); });
        } catch (const itk::ExceptionObject &e) {
            fail(TACO_ERR_IO, std::string(path) + ": unreadable voxel data: " + e.GetDescription());
        }
        if (messages.find("not read completely") != std::string::npos)
            fail(TACO_ERR_IO, std::string(path) + ": truncated or corrupt voxel data (" +
                                  messages.substr(0, messages.find('\n')) + ")");
        FloatImage *image = reader->GetOutput();
        *geometry = geometry_of(image);
        std::memcpy(voxels, image->GetBufferPointer(), voxel_count(*geometry) * sizeof(float));
    });
}

taco_status taco_image_write(const char *path, const taco_geometry *geometry, const float *voxels) {
    return guarded("write image", [&] {
        if (!path || !geometry) fail(TACO_ERR_INVALID_ARGUMENT, "missing argument");
        validate(*geometry, "image");
        register_io_factories();
        auto image = wrap(*geometry, voxels);
        auto writer = itk::ImageFileWriter<FloatImage>::New();
        writer->SetFileName(path);
        writer->SetInput(image);
        writer->SetUseCompression(true);
        try {
            writer->Update();
        } catch (const itk::ExceptionObject &e) {
            fail(TACO_ERR_IO, std::string(path) + ": " + e.GetDescription());
        }
    });
}

}  // extern "C"
