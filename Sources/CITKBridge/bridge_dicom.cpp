// DICOM: header scans without pixel decoding (GDCM), series reads (ITK over GDCM), series writes (GDCM).
#include "bridge_internal.h"

#include <sys/stat.h>

#include <set>

#include <gdcmAttribute.h>
#include <gdcmGlobal.h>
#include <gdcmImage.h>
#include <gdcmImageChangeTransferSyntax.h>
#include <gdcmImageHelper.h>
#include <gdcmImageWriter.h>
#include <gdcmReader.h>
#include <gdcmStringFilter.h>
#include <itkGDCMImageIO.h>
#include <itkImageSeriesReader.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <thread>
#include <algorithm>
#include <vector>

using namespace taco;

/** The result of a header scan: one row per file, one optional value per tag. */
struct taco_dicom_scan {
    size_t tag_count = 0;
    std::vector<std::string> failures;               // per file; empty = readable
    std::vector<std::unique_ptr<std::string>> values; // file-major; null = absent
};

namespace {

std::string trim_padding(std::string s) {
    // DICOM pads values to even length with a space (text) or NUL (UIDs).
    while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
    size_t start = 0;
    while (start < s.size() && s[start] == ' ') ++start;
    return s.substr(start);
}

gdcm::Tag parse_tag(const char *text) {
    unsigned group = 0, element = 0;
    char separator = 0;
    if (!text || std::sscanf(text, "%4x%c%4x", &group, &separator, &element) != 3 || (separator != ',' && separator != '|'))
        fail(TACO_ERR_INVALID_ARGUMENT, std::string("not a tag of the form gggg,eeee: ") + (text ? text : "(null)"));
    return gdcm::Tag(static_cast<uint16_t>(group), static_cast<uint16_t>(element));
}

/** An unsigned integer element of the data set, or `fallback` when absent. */
unsigned long number_of(const gdcm::DataSet &dataset, const gdcm::File &file, uint16_t group, uint16_t element,
                        unsigned long fallback) {
    const gdcm::Tag tag(group, element);
    if (!dataset.FindDataElement(tag) || dataset.GetDataElement(tag).IsEmpty()) return fallback;
    gdcm::StringFilter filter;
    filter.SetFile(file);
    const std::string text = filter.ToString(tag);
    char *end = nullptr;
    const unsigned long value = std::strtoul(text.c_str(), &end, 10);
    return end == text.c_str() ? fallback : value;
}

/** Marks row `row` failed when the file's native pixel data is shorter than its header promises. */
void check_native_length(const char *path, const gdcm::Reader &reader, taco_dicom_scan &scan, size_t row) {
    const gdcm::File &file = reader.GetFile();
    const gdcm::DataSet &dataset = file.GetDataSet();
    if (file.GetHeader().GetDataSetTransferSyntax().IsEncapsulated()) return;
    const unsigned long rows = number_of(dataset, file, 0x0028, 0x0010, 0), columns = number_of(dataset, file, 0x0028, 0x0011, 0);
    if (rows == 0 || columns == 0) return;
    const unsigned long bits = number_of(dataset, file, 0x0028, 0x0100, 16), samples = number_of(dataset, file, 0x0028, 0x0002, 1);
    const unsigned long frames = std::max(1ul, number_of(dataset, file, 0x0028, 0x0008, 1));
    const unsigned long long expected = (unsigned long long)rows * columns * samples * frames * ((bits + 7) / 8);
    struct stat info;
    if (stat(path, &info) != 0) return;
    const unsigned long long position = reader.GetStreamCurrentPosition();
    // The reader stops with the pixel data element's header consumed: the position is where its value starts.
    const unsigned long long available = (unsigned long long)info.st_size > position ? info.st_size - position : 0;
    if (available < expected) {
        scan.failures[row] = "truncated: the pixel data holds " + std::to_string(available) + " of the " +
                             std::to_string(expected) + " bytes its header promises";
    }
}

/** Reads `path` up to the pixel data and fills one row of `scan`. */
void scan_one(const char *path, const std::vector<gdcm::Tag> &tags, taco_dicom_scan &scan, size_t row) {
    gdcm::Reader reader;
    reader.SetFileName(path);
    // With the pixel data tag in the skip set the reader stops after its element header (without, it
    // reads the pixel data too), so the stream position is where the pixel data's value starts.
    static const std::set<gdcm::Tag> pixel_data{gdcm::Tag(0x7fe0, 0x0010)};
    if (!reader.ReadUpToTag(gdcm::Tag(0x7fe0, 0x0010), pixel_data)) {
        scan.failures[row] = "not a DICOM file, or its header is corrupt or truncated";
        return;
    }
    const gdcm::File &file = reader.GetFile();
    const gdcm::DataSet &dataset = file.GetDataSet();
    const gdcm::FileMetaInformation &meta = file.GetHeader();
    gdcm::StringFilter filter;
    filter.SetFile(file);
    for (size_t j = 0; j < tags.size(); ++j) {
        const gdcm::Tag &tag = tags[j];
        const bool in_meta = tag.GetGroup() == 0x0002;
        if (in_meta ? !meta.FindDataElement(tag) : !dataset.FindDataElement(tag)) continue;
        const gdcm::DataElement &element = in_meta ? meta.GetDataElement(tag) : dataset.GetDataElement(tag);
        if (element.IsEmpty()) {
            scan.values[row * tags.size() + j] = std::make_unique<std::string>();
            continue;
        }
        std::string value;
        if (in_meta) {
            const gdcm::ByteValue *bytes = element.GetByteValue();
            if (bytes) value.assign(bytes->GetPointer(), bytes->GetLength());
        } else {
            value = filter.ToString(tag);
        }
        scan.values[row * tags.size() + j] = std::make_unique<std::string>(trim_padding(value));
    }
    // Native (uncompressed) pixel data must fill what Rows x Columns x frames promise: readers accept a
    // truncated file silently and fill the rest with whatever is in memory.
    check_native_length(path, reader, scan, row);
}

/** stored = round((value - intercept) / slope) as int16; fails naming a value that does not fit. */
void quantize(const float *values, size_t n, double slope, double intercept, int16_t *stored) {
    for (size_t i = 0; i < n; ++i) {
        const double q = std::nearbyint((double(values[i]) - intercept) / slope);
        if (!(q >= std::numeric_limits<int16_t>::min() && q <= std::numeric_limits<int16_t>::max()))
            fail(TACO_ERR_INVALID_ARGUMENT, "value " + std::to_string(values[i]) + " does not fit int16 with the given rescale");
        stored[i] = static_cast<int16_t>(q);
    }
}

/** Monochrome int16 pixels with a rescale, explicit VR little endian, in `image`. */
void set_int16_pixels(gdcm::Image &image, const std::vector<int16_t> &stored, double slope, double intercept) {
    image.SetPhotometricInterpretation(gdcm::PhotometricInterpretation::MONOCHROME2);
    image.SetPixelFormat(gdcm::PixelFormat::INT16);
    image.SetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
    // With ImageHelper's force-rescale flag on (register_io_factories sets it), GDCM keeps classic MR
    // Image Storage for a classic image and writes this rescale as plain Rescale Slope/Intercept.
    image.SetIntercept(intercept);
    image.SetSlope(slope);
    gdcm::DataElement pixels(gdcm::Tag(0x7fe0, 0x0010));
    pixels.SetByteValue(reinterpret_cast<const char *>(stored.data()), static_cast<uint32_t>(stored.size() * sizeof(int16_t)));
    image.SetDataElement(pixels);
}

/** Puts text values into a writer's data set with the dictionary's VR, padded to even length. */
struct TagWriter {
    gdcm::DataSet &dataset;
    gdcm::StringFilter filter;

    explicit TagWriter(gdcm::File &file) : dataset(file.GetDataSet()) { filter.SetFile(file); }

    void put(const gdcm::Tag &tag, const std::string &value) {
        const gdcm::DictEntry &entry = gdcm::Global::GetInstance().GetDicts().GetDictEntry(tag);
        gdcm::DataElement element(tag);
        element.SetVR(entry.GetVR());
        std::string padded = value.empty() ? value : filter.FromString(tag, value.c_str(), value.size());
        if (padded.size() % 2) padded.push_back(entry.GetVR() == gdcm::VR::UI ? '\0' : ' ');
        element.SetByteValue(padded.data(), static_cast<uint32_t>(padded.size()));
        dataset.Replace(element);
    }

    /** Type 2 study date and time empty (GDCM would otherwise stamp today's date: a date in the output,
     *  and files that differ from run to run), then the caller's tags. */
    void put_all(const taco_dicom_tag *tags, size_t tag_count) {
        put(gdcm::Tag(0x0008, 0x0020), "");
        put(gdcm::Tag(0x0008, 0x0030), "");
        for (size_t t = 0; t < tag_count; ++t) put(parse_tag(tags[t].tag), tags[t].value);
    }
};

using SeriesReader = itk::ImageSeriesReader<FloatImage>;

}  // namespace

extern "C" {

taco_status taco_dicom_scan_files(const char *const *paths, size_t path_count, const char *const *tags,
                                  size_t tag_count, taco_dicom_scan **scan) {
    return guarded("DICOM header scan", [&] {
        if (!scan || (path_count && !paths) || (tag_count && !tags)) fail(TACO_ERR_INVALID_ARGUMENT, "missing argument");
        *scan = nullptr;
        std::vector<gdcm::Tag> parsed;
        for (size_t j = 0; j < tag_count; ++j) parsed.push_back(parse_tag(tags[j]));
        auto result = std::make_unique<taco_dicom_scan>();
        result->tag_count = tag_count;
        result->failures.resize(path_count);
        result->values.resize(path_count * tag_count);
        register_io_factories();  // GDCM's global settings (warnings off)
        // Files are independent: split them over ITK's thread count (each thread owns its reader).
        auto scan_range = [&](size_t begin, size_t end) {
            for (size_t i = begin; i < end; ++i) {
                try {
                    scan_one(paths[i], parsed, *result, i);
                } catch (const std::exception &e) {
                    result->failures[i] = std::string("unreadable DICOM header: ") + e.what();
                } catch (...) {
                    result->failures[i] = "unreadable DICOM header";
                }
            }
        };
        const size_t workers = std::max<size_t>(1, std::min<size_t>(taco_get_threads(), path_count / 16));
        std::vector<std::thread> threads;
        for (size_t w = 1; w < workers; ++w)
            threads.emplace_back(scan_range, w * path_count / workers, (w + 1) * path_count / workers);
        scan_range(0, path_count / workers);
        for (auto &t : threads) t.join();
        *scan = result.release();
    });
}

int taco_dicom_scan_is_readable(const taco_dicom_scan *scan, size_t file) {
    return scan && file < scan->failures.size() && scan->failures[file].empty();
}

const char *taco_dicom_scan_failure(const taco_dicom_scan *scan, size_t file) {
    if (!scan || file >= scan->failures.size()) return "";
    return scan->failures[file].c_str();
}

const char *taco_dicom_scan_value(const taco_dicom_scan *scan, size_t file, size_t tag) {
    if (!scan || tag >= scan->tag_count || file >= scan->failures.size()) return nullptr;
    const auto &value = scan->values[file * scan->tag_count + tag];
    return value ? value->c_str() : nullptr;
}

void taco_dicom_scan_free(taco_dicom_scan *scan) { delete scan; }

taco_status taco_dicom_read_series(const char *const *paths, size_t path_count, taco_geometry *geometry,
                                   float *voxels, size_t capacity) {
    return guarded("read DICOM series", [&] {
        if (!paths || path_count == 0 || !geometry) fail(TACO_ERR_INVALID_ARGUMENT, "no files");
        register_io_factories();
        auto io = itk::GDCMImageIO::New();
        SeriesReader::FileNamesContainer names(paths, paths + path_count);
        auto reader = SeriesReader::New();
        reader->SetImageIO(io);
        reader->SetFileNames(names);
        try {
            if (voxels) reader->Update();
            else reader->UpdateOutputInformation();
        } catch (const itk::ExceptionObject &e) {
            fail(TACO_ERR_IO, "series of " + std::to_string(path_count) + " files starting with " + paths[0] + ": " +
                                  e.GetDescription());
        }
        *geometry = geometry_of(reader->GetOutput());
        if (!voxels) return;
        if (capacity < voxel_count(*geometry)) fail(TACO_ERR_INVALID_ARGUMENT, "output buffer too small");
        std::memcpy(voxels, reader->GetOutput()->GetBufferPointer(), voxel_count(*geometry) * sizeof(float));
    });
}

taco_status taco_dicom_write_series(const taco_geometry *geometry, const float *voxels, double slope,
                                    double intercept, const taco_dicom_tag *tags, size_t tag_count,
                                    const char *const *paths, uint32_t first_instance,
                                    taco_dicom_compression compression) {
    return guarded("write DICOM series", [&] {
        if (!geometry || !voxels || !paths || (tag_count && !tags)) fail(TACO_ERR_INVALID_ARGUMENT, "missing argument");
        validate(*geometry, "image");
        register_io_factories();  // also sets GDCM's force-rescale flag, which the writer's output depends on
        if (!(slope > 0) || !std::isfinite(slope) || !std::isfinite(intercept))
            fail(TACO_ERR_INVALID_ARGUMENT, "rescale slope must be positive and finite");
        const taco_geometry &g = *geometry;
        std::string series_uid;
        for (size_t t = 0; t < tag_count; ++t) {
            if (!tags[t].tag || !tags[t].value) fail(TACO_ERR_INVALID_ARGUMENT, "tag without a value");
            if (parse_tag(tags[t].tag) == gdcm::Tag(0x0020, 0x000e)) series_uid = tags[t].value;
        }
        if (series_uid.empty()) fail(TACO_ERR_INVALID_ARGUMENT, "SeriesInstanceUID (0020|000e) is required");

        const size_t slice_voxels = size_t(g.size[0]) * g.size[1];
        std::vector<int16_t> stored(slice_voxels);
        const double *d = g.direction;  // columns: axis directions
        char text[256];
        for (uint32_t z = 0; z < g.size[2]; ++z) {
            quantize(voxels + z * slice_voxels, slice_voxels, slope, intercept, stored.data());
            gdcm::SmartPointer<gdcm::Image> image = new gdcm::Image;
            image->SetNumberOfDimensions(2);
            image->SetDimension(0, g.size[0]);
            image->SetDimension(1, g.size[1]);
            image->SetSpacing(0, g.spacing[0]);
            image->SetSpacing(1, g.spacing[1]);
            image->SetSpacing(2, g.spacing[2]);
            double position[3];
            for (int r = 0; r < 3; ++r) position[r] = g.origin[r] + d[3 * r + 2] * g.spacing[2] * z;
            for (int r = 0; r < 3; ++r) image->SetOrigin(r, position[r]);
            const double cosines[6] = {d[0], d[3], d[6], d[1], d[4], d[7]};
            image->SetDirectionCosines(cosines);
            set_int16_pixels(*image, stored, slope, intercept);

            gdcm::ImageWriter writer;
            TagWriter tags_out(writer.GetFile());
            tags_out.put_all(tags, tag_count);
            const uint32_t instance = first_instance + z;
            tags_out.put(gdcm::Tag(0x0008, 0x0018), series_uid + "." + std::to_string(instance));
            tags_out.put(gdcm::Tag(0x0020, 0x0013), std::to_string(instance));
            std::snprintf(text, sizeof text, "%.6g", g.spacing[2]);
            tags_out.put(gdcm::Tag(0x0018, 0x0050), text);  // SliceThickness
            tags_out.put(gdcm::Tag(0x0018, 0x0088), text);  // SpacingBetweenSlices

            if (compression == TACO_DICOM_UNCOMPRESSED) {
                writer.SetImage(*image);
            } else {
                gdcm::ImageChangeTransferSyntax change;
                switch (compression) {
                case TACO_DICOM_JPEG_LOSSLESS: change.SetTransferSyntax(gdcm::TransferSyntax::JPEGLosslessProcess14_1); break;
                case TACO_DICOM_JPEG2000_LOSSLESS: change.SetTransferSyntax(gdcm::TransferSyntax::JPEG2000Lossless); break;
                case TACO_DICOM_JPEGLS_LOSSLESS: change.SetTransferSyntax(gdcm::TransferSyntax::JPEGLSLossless); break;
                case TACO_DICOM_RLE_LOSSLESS: change.SetTransferSyntax(gdcm::TransferSyntax::RLELossless); break;
                default: fail(TACO_ERR_INVALID_ARGUMENT, "unknown compression");
                }
                change.SetInput(*image);
                if (!change.Change()) fail(TACO_ERR_COMPUTE, "GDCM could not compress the slices");
                writer.SetImage(change.GetOutput());
            }
            writer.SetFileName(paths[z]);
            if (!writer.Write()) fail(TACO_ERR_IO, std::string(paths[z]) + ": could not write");
        }
    });
}

taco_status taco_dicom_write_multiframe(const taco_geometry *geometry, const float *voxels, double slope,
                                        double intercept, const taco_dicom_tag *tags, size_t tag_count,
                                        const char *path) {
    return guarded("write enhanced multi-frame DICOM", [&] {
        if (!geometry || !voxels || !path || (tag_count && !tags)) fail(TACO_ERR_INVALID_ARGUMENT, "missing argument");
        validate(*geometry, "image");
        register_io_factories();
        if (!(slope > 0) || !std::isfinite(slope) || !std::isfinite(intercept))
            fail(TACO_ERR_INVALID_ARGUMENT, "rescale slope must be positive and finite");
        const taco_geometry &g = *geometry;
        const size_t n = voxel_count(g);
        std::vector<int16_t> stored(n);
        quantize(voxels, n, slope, intercept, stored.data());
        gdcm::SmartPointer<gdcm::Image> image = new gdcm::Image;
        image->SetNumberOfDimensions(3);
        for (int a = 0; a < 3; ++a) {
            image->SetDimension(a, g.size[a]);
            image->SetSpacing(a, g.spacing[a]);
            image->SetOrigin(a, g.origin[a]);
        }
        const double *d = g.direction;
        const double cosines[6] = {d[0], d[3], d[6], d[1], d[4], d[7]};
        image->SetDirectionCosines(cosines);
        set_int16_pixels(*image, stored, slope, intercept);

        gdcm::ImageWriter writer;
        TagWriter tags_out(writer.GetFile());
        // Enhanced MR Image Storage: GDCM then writes the geometry into the shared and per-frame functional groups.
        tags_out.put(gdcm::Tag(0x0008, 0x0016), "1.2.840.10008.5.1.4.1.1.4.1");
        tags_out.put_all(tags, tag_count);
        writer.SetImage(*image);
        writer.SetFileName(path);
        if (!writer.Write()) fail(TACO_ERR_IO, std::string(path) + ": could not write");
    });
}

}  // extern "C"

