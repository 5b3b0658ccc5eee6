internal import CITKBridge
import TacoCore

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
        public let transform: AffineTransform3D
        /// Final metric (negative mutual information: lower is better).
        public let metric: Double
        public let iterations: Int
    }

    /// Registers `moving` onto `fixed`, starting from `initial` (fixed -> moving) or, when nil, from
    /// the moving image's geometric centre moved onto the fixed image's.
    public static func register(fixed: RegistrationImage, moving: RegistrationImage, initial: AffineTransform3D? = nil,
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
        return Result(transform: AffineTransform3D(rowMajor4x4: matrix), metric: result.metric, iterations: Int(result.iterations))
    }
}
