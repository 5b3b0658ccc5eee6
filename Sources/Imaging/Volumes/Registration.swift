import CITKBridge

/// One level of a multi-resolution schedule.
public struct RegistrationLevel: Sendable, Equatable {
    /// Integer shrink factor of the images at this level.
    public var shrink: Int
    /// Gaussian smoothing sigma in mm before shrinking.
    public var smoothingMM: Double
    /// Maximum iterations at this level.
    public var iterations: Int

    public init(shrink: Int, smoothingMM: Double, iterations: Int) {
        self.shrink = shrink
        self.smoothingMM = smoothingMM
        self.iterations = iterations
    }
}

/// An image given to a registration, with an optional mask (non-zero voxels count) on the same grid.
public struct RegistrationImage: Sendable {
    public var volume: Volume
    public var mask: Volume?

    public init(_ volume: Volume, mask: Volume? = nil) {
        precondition(mask == nil || mask!.geometry.size == volume.geometry.size, "mask must share the image's grid")
        self.volume = volume
        self.mask = mask
    }
}

/// Rigid (6 dof) or affine (12 dof) registration with Mattes mutual information (ITK v4).
///
/// ```swift
/// var options = LinearRegistration.Options.rigid
/// let result = try LinearRegistration.register(fixed: .init(t1), moving: .init(flair), options: options)
/// result.transform    // fixed (t1) point -> moving (flair) point, LPS
/// ```
public enum LinearRegistration {
    public enum Kind: Sendable { case rigid, affine }

    public struct Options: Sendable, Equatable {
        public var kind: Kind
        public var levels: [RegistrationLevel]
        /// Fraction of fixed voxels sampled, on a regular grid.
        public var samplingFraction: Double
        public var histogramBins: Int
        /// Largest optimiser step (about mm of physical shift).
        public var learningRate: Double
        public var minimumStep: Double

        public init(kind: Kind, levels: [RegistrationLevel], samplingFraction: Double = 0.25, histogramBins: Int = 32,
                    learningRate: Double = 1.0, minimumStep: Double = 1e-3) {
            self.kind = kind
            self.levels = levels
            self.samplingFraction = samplingFraction
            self.histogramBins = histogramBins
            self.learningRate = learningRate
            self.minimumStep = minimumStep
        }

        /// Three levels (shrink 4, 2, 1) that recover sub-millimetre rigid motion on brain MRI.
        public static let rigid = Options(kind: .rigid, levels: [
            RegistrationLevel(shrink: 4, smoothingMM: 4, iterations: 200),
            RegistrationLevel(shrink: 2, smoothingMM: 2, iterations: 200),
            RegistrationLevel(shrink: 1, smoothingMM: 0, iterations: 200),
        ])

        /// As ``rigid`` with 12 degrees of freedom.
        public static let affine: Options = {
            var o = rigid
            o.kind = .affine
            return o
        }()
    }

    public struct Result: Sendable {
        /// Maps fixed points to moving points (LPS).
        public let transform: AffineTransform
        /// Final metric (negative mutual information: lower is better).
        public let metric: Double
        public let iterations: Int
    }

    /// Registers `moving` onto `fixed`, starting from `initial` (fixed -> moving) or, when nil, from
    /// the moving image's geometric centre moved onto the fixed image's.
    public static func register(fixed: RegistrationImage, moving: RegistrationImage, initial: AffineTransform? = nil,
                                options: Options) throws -> Result {
        precondition(!options.levels.isEmpty && options.levels.count <= Int(TACO_MAX_LEVELS), "1...\(TACO_MAX_LEVELS) levels")
        var c = taco_linear_options()
        c.kind = options.kind == .rigid ? TACO_TRANSFORM_RIGID : TACO_TRANSFORM_AFFINE
        c.levels = UInt32(options.levels.count)
        setSchedule(options.levels, shrink: &c.shrink, smoothing: &c.smoothing_mm, iterations: &c.iterations)
        c.sampling_fraction = options.samplingFraction
        c.histogram_bins = UInt32(options.histogramBins)
        c.learning_rate = options.learningRate
        c.minimum_step = options.minimumStep
        var result = taco_linear_result()
        try withViews(fixed, moving) { fixedView, movingView in
            try withOptionalBuffer(initial?.rowMajor4x4) { start in
                try BridgeError.check(taco_register_linear(fixedView, movingView, start, &c, &result))
            }
        }
        let matrix = withUnsafeBytes(of: result.transform) { Array($0.bindMemory(to: Double.self)) }
        return Result(transform: AffineTransform(rowMajor4x4: matrix), metric: result.metric, iterations: Int(result.iterations))
    }
}

/// Deformable registration with SyN (symmetric normalisation, ITK v4), after an optional linear start.
///
/// The returned fields live on the fixed grid: a fixed point p corresponds to the moving point
/// `initial(p + forward(p))`; `inverse` undoes p -> p + forward(p).
public enum DeformableRegistration {
    public enum Metric: Sendable, Equatable {
        /// Neighbourhood cross-correlation with the given radius (voxels): within one contrast.
        case crossCorrelation(radius: Int)
        /// Mattes mutual information: across contrasts.
        case mutualInformation(bins: Int)
        /// Mean squared difference: same contrast and scale.
        case meanSquares
    }

    public struct Options: Sendable, Equatable {
        public var metric: Metric
        /// Levels, coarse first; the last must have shrink 1.
        public var levels: [RegistrationLevel]
        public var learningRate: Double
        /// Gaussian smoothing variance (voxels^2) of the update field, and of the total field.
        public var updateVariance: Double
        public var totalVariance: Double

        public init(metric: Metric = .mutualInformation(bins: 32), levels: [RegistrationLevel],
                    learningRate: Double = 0.25, updateVariance: Double = 3, totalVariance: Double = 0) {
            self.metric = metric
            self.levels = levels
            self.learningRate = learningRate
            self.updateVariance = updateVariance
            self.totalVariance = totalVariance
        }

        /// Three levels, 40/20/10 iterations, Mattes mutual information. On the atlas with a known
        /// warp it removed more error than cross-correlation and ran twice as fast (docs/benchmarks.md).
        public static let standard = Options(levels: [
            RegistrationLevel(shrink: 4, smoothingMM: 3, iterations: 40),
            RegistrationLevel(shrink: 2, smoothingMM: 1.5, iterations: 20),
            RegistrationLevel(shrink: 1, smoothingMM: 0, iterations: 10),
        ])
    }

    public struct Result: Sendable {
        public let forward: DisplacementField
        public let inverse: DisplacementField
        public let metric: Double
        public let iterations: Int
    }

    public static func register(fixed: RegistrationImage, moving: RegistrationImage, initial: AffineTransform? = nil,
                                options: Options = .standard) throws -> Result {
        precondition(!options.levels.isEmpty && options.levels.count <= Int(TACO_MAX_LEVELS), "1...\(TACO_MAX_LEVELS) levels")
        var c = taco_deformable_options()
        switch options.metric {
        case .crossCorrelation(let radius):
            c.metric = TACO_METRIC_CC
            c.cc_radius = UInt32(radius)
        case .mutualInformation(let bins):
            c.metric = TACO_METRIC_MATTES
            c.histogram_bins = UInt32(bins)
        case .meanSquares: c.metric = TACO_METRIC_MEAN_SQUARES
        }
        c.levels = UInt32(options.levels.count)
        setSchedule(options.levels, shrink: &c.shrink, smoothing: &c.smoothing_mm, iterations: &c.iterations)
        c.learning_rate = options.learningRate
        c.update_variance = options.updateVariance
        c.total_variance = options.totalVariance
        let grid = fixed.volume.geometry
        var forward = [Float](repeating: 0, count: 3 * grid.voxelCount)
        var inverse = forward
        var result = taco_deformable_result()
        try withViews(fixed, moving) { fixedView, movingView in
            try withOptionalBuffer(initial?.rowMajor4x4) { start in
                try forward.withUnsafeMutableBufferPointer { f in
                    try inverse.withUnsafeMutableBufferPointer { i in
                        try BridgeError.check(taco_register_deformable(fixedView, movingView, start, &c, f.baseAddress,
                                                                       i.baseAddress, &result))
                    }
                }
            }
        }
        return Result(forward: DisplacementField(geometry: grid, vectors: forward),
                      inverse: DisplacementField(geometry: grid, vectors: inverse),
                      metric: result.metric, iterations: Int(result.iterations))
    }
}

// MARK: - Bridging helpers

typealias LevelTuple<T> = (T, T, T, T, T, T)

private func setSchedule(_ levels: [RegistrationLevel], shrink: inout LevelTuple<UInt32>,
                         smoothing: inout LevelTuple<Double>, iterations: inout LevelTuple<UInt32>) {
    withUnsafeMutableBytes(of: &shrink) { s in
        withUnsafeMutableBytes(of: &smoothing) { m in
            withUnsafeMutableBytes(of: &iterations) { i in
                let s = s.bindMemory(to: UInt32.self), m = m.bindMemory(to: Double.self), i = i.bindMemory(to: UInt32.self)
                for (l, level) in levels.enumerated() {
                    s[l] = UInt32(level.shrink)
                    m[l] = level.smoothingMM
                    i[l] = UInt32(level.iterations)
                }
            }
        }
    }
}

/// Calls `body` with bridge views of both images; the pointers are valid only inside it.
private func withViews<R>(_ fixed: RegistrationImage, _ moving: RegistrationImage,
                          _ body: (taco_image_view, taco_image_view) throws -> R) throws -> R {
    var fixedGeometry = fixed.volume.geometry.bridged
    var movingGeometry = moving.volume.geometry.bridged
    return try fixed.volume.voxels.withUnsafeBufferPointer { fv in
        try moving.volume.voxels.withUnsafeBufferPointer { mv in
            try withOptionalBuffer(fixed.mask?.voxels) { fm in
                try withOptionalBuffer(moving.mask?.voxels) { mm in
                    try withUnsafePointer(to: &fixedGeometry) { fg in
                        try withUnsafePointer(to: &movingGeometry) { mg in
                            try body(taco_image_view(geometry: fg, voxels: fv.baseAddress, mask: fm),
                                     taco_image_view(geometry: mg, voxels: mv.baseAddress, mask: mm))
                        }
                    }
                }
            }
        }
    }
}
