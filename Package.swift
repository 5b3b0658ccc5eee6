// swift-tools-version: 6.0
// TacoKit: topology-aware pre-training data from 3D multi-modal medical images.
// The system libraries (ITK 5.2, GDCM, libnifti, HDF5, OpenBLAS) come from Debian's packages;
// `make setup` installs them. See docs/building.md for why each flag below exists.

import PackageDescription

/// ITK and GDCM libraries the bridge links (Debian's names, `-5.2` suffix for ITK).
let itkLibraries = [
    "ITKRegistrationMethodsv4", "ITKOptimizersv4", "ITKOptimizers", "ITKIOGDCM", "ITKIONIFTI", "ITKIONRRD",
    "ITKIOMeta", "ITKIOPNG", "ITKIOImageBase", "ITKSmoothing", "ITKSpatialObjects", "ITKTransform",
    "ITKStatistics", "ITKLabelMap", "ITKCommon", "itkvnl_algo", "itkvnl", "itksys",
].map { "\($0)-5.2" } + ["gdcmMSFF", "gdcmDSED", "gdcmDICT", "gdcmCommon", "m"]

/// Voxel loops at -Onone are 10-50x slower (SIMD types especially); the tests run the debug build.
let optimizedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

let package = Package(
    name: "TacoKit",
    products: [
        .executable(name: "taco", targets: ["taco"]),
        .executable(name: "taco-fuzz", targets: ["TacoFuzz"]),
        .library(name: "Imaging", targets: ["Imaging"]),
        // The plugin for other trainers (include/taco_train.h): a PyTorch trainer loads it with ctypes.
        .library(name: "TacoTrain", type: .dynamic, targets: ["TacoPlugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // C++ over ITK 5.2 and GDCM behind a plain C header. No ITK type and no C++ exception crosses it.
        .target(
            name: "CITKBridge",
            cxxSettings: [
                .unsafeFlags([
                    "-I/usr/include/ITK-5.2", "-I/usr/include/gdcm-3.0",
                    // ITK code at -O0 is 20-30x slower; keep the bridge optimised in debug builds too, and
                    // without ITK's debug assertions (NDEBUG), which sit in its inner loops.
                    "-O2", "-DNDEBUG",
                    "-Wno-deprecated-declarations", "-Wno-ignored-attributes", "-Wno-inconsistent-missing-override",
                ]),
            ],
            linkerSettings: itkLibraries.map { .linkedLibrary($0) }
        ),
        // libnifti (NIfTI-1 only: libnifti2 must never be linked beside ITK's NIfTI reader).
        .target(
            name: "CNIfTI",
            linkerSettings: [.linkedLibrary("niftiio"), .linkedLibrary("znz"), .linkedLibrary("z")]
        ),
        // Serial HDF5, with a shim that turns the library's global-backed macros into functions.
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // What every stage shares and nothing of ITK: geometry and volumes, NIfTI files, the prepared folder's
        // layout and reader, atomic files, PNG pictures, the seeded generator, the lock.
        .target(
            name: "TacoCore",
            dependencies: ["CNIfTI", "CZlib"],
            swiftSettings: optimizedInDebug
        ),
        // The Swift face of the ITK bridge: DICOM, resampling, registration, masks; atlases; worker processes.
        .target(
            name: "Imaging",
            dependencies: ["TacoCore", "CITKBridge"],
            swiftSettings: optimizedInDebug
        ),
        // A synthetic multi-modal cohort with ground truth, made from an atlas (`taco synth`).
        .target(
            name: "Synth",
            dependencies: ["TacoCore", "Imaging"],
            swiftSettings: optimizedInDebug
        ),
        // Raw dumps to prepared subjects (`taco prep`).
        .target(
            name: "Prep",
            dependencies: ["TacoCore", "Imaging", "Yams", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: optimizedInDebug
        ),
        // Atlases, atlas registration, atlas-coordinate maps (`taco correspond`).
        .target(
            name: "Correspond",
            dependencies: ["TacoCore", "Imaging", "Shards", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: optimizedInDebug
        ),
        // The HDF5 shard format: schema, writer, reader (Correspond writes, Train reads).
        .target(
            name: "Shards",
            dependencies: ["TacoCore", "CHDF5", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: optimizedInDebug
        ),
        // Streaming, sampling, correspondences, the topology losses, the model and the trainer (`taco train`,
        // `embed`, `probe`; the C plugin for other trainers). ITK-free, so the plugin links no ITK.
        .target(
            name: "Train",
            dependencies: ["TacoCore", "Shards", "COpenBLAS", "Yams"],
            swiftSettings: optimizedInDebug
        ),
        // The C functions of include/taco_train.h over Train (the TacoTrain dynamic library).
        .target(
            name: "TacoPlugin",
            dependencies: ["Train", "Shards", "TacoCore"],
            swiftSettings: optimizedInDebug
        ),
        .executableTarget(
            name: "taco",
            dependencies: ["TacoCore", "Imaging", "Synth", "Prep", "Correspond", "Shards", "Train", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // The seeded mutation fuzzer over the readers (`make fuzz`; a short pass in `make test`).
        .executableTarget(
            name: "TacoFuzz",
            dependencies: ["TacoCore", "Imaging", "Prep", "Shards", "Train", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        .executableTarget(
            name: "TacoBenchmarks",
            dependencies: ["TacoCore", "Imaging", "Synth", "Prep", "Correspond", "Shards"],
            path: "Benchmarks/TacoBenchmarks"
        ),
        .executableTarget(
            name: "TrainBenchmarks",
            dependencies: ["TacoCore", "Shards", "Train"],
            path: "Benchmarks/TrainBenchmarks"
        ),
        .testTarget(name: "ImagingTests", dependencies: ["TacoCore", "Imaging"]),
        .testTarget(name: "SynthTests", dependencies: ["Synth", "TacoCore", "Imaging"]),
        .testTarget(name: "PrepTests", dependencies: ["Prep", "Synth", "TacoCore", "Imaging"]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["CHDF5", "COpenBLAS"]),
        .testTarget(name: "ShardsTests", dependencies: ["Shards", "TacoCore"]),
        .testTarget(name: "CorrespondTests", dependencies: ["Correspond", "Shards", "Synth", "Prep", "TacoCore", "Imaging", "Train"]),
        .testTarget(name: "TrainTests", dependencies: ["Train", "Shards", "TacoCore"], exclude: ["dataset_check.py", "model_check.py", "plugin_check.py", "pretrain_check.py", "pretrain_ranks.py", "shard_boxes.py", "torch_check.py", "wheel_check.py"]),
        .testTarget(name: "tacoTests", dependencies: ["taco", "TacoCore", "Imaging", "Shards"]),
    ],
    swiftLanguageModes: [.v6],
    cLanguageStandard: .c11,
    cxxLanguageStandard: .cxx17
)
