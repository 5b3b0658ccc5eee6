import CHDF5
import COpenBLAS
import Foundation
import Testing

/// The system-library modules link and behave: these are the facts later stages (shards, losses) build on.
@Suite struct SystemLibraryTests {
    @Test func sgemmMultipliesAKnownPair() {
        // [1 2; 3 4] x [5 6; 7 8] = [19 22; 43 50] (row-major)
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [5, 6, 7, 8]
        var c = [Float](repeating: 0, count: 4)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2, 1, a, 2, b, 2, 0, &c, 2)
        #expect(c == [19, 22, 43, 50])
    }

    @Test func hdf5WritesAndReadsAFloatDatasetAndDefinesHalfFloats() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("taco-\(UUID().uuidString).h5").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let file = H5Fcreate(path, chdf5_acc_trunc(), chdf5_default(), chdf5_default())
        #expect(file >= 0)
        var dims: [hsize_t] = [2, 3]
        let space = H5Screate_simple(2, &dims, nil)
        let dataset = H5Dcreate2(file, "values", chdf5_native_float(), space, chdf5_default(), chdf5_default(), chdf5_default())
        let values: [Float] = [1, 2, 3, 4, 5, 6.5]
        #expect(H5Dwrite(dataset, chdf5_native_float(), chdf5_all(), chdf5_all(), chdf5_default(), values) >= 0)
        var back = [Float](repeating: 0, count: 6)
        #expect(H5Dread(dataset, chdf5_native_float(), chdf5_all(), chdf5_all(), chdf5_default(), &back) >= 0)
        #expect(back == values)
        let half = chdf5_ieee_f16le()
        #expect(half >= 0 && H5Tget_size(half) == 2)
        H5Tclose(half)
        H5Dclose(dataset)
        H5Sclose(space)
        H5Fclose(file)
    }
}
