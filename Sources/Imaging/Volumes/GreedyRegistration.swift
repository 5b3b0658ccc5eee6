internal import CITKBridge
import TacoCore

/// TacoKit's own deformable registration: greedy compositive updates on local normalised
/// cross-correlation (after PICSL's greedy), one-directional, with the field convention of
/// ``DeformableRegistration``: a fixed point p corresponds to the moving point `initial(p + forward(p))`,
/// and `inverse` undoes p -> p + forward(p).
///
/// Each iteration warps the moving image, computes the local correlation and its exact gradient with
/// running box sums, smooths the force (`updateSigma`), scales it so that no voxel moves more than
/// `step` voxels, composes it with the field and smooths the field (`totalSigma`). Results do not
/// depend on the number of threads.
public enum GreedyRegistration {
    public struct Options: Sendable, Equatable {
        /// Levels, coarse first, as shrink factors of the fixed grid; the last must have shrink 1.
        /// A level with 0 iterations only carries the field to the next grid.
        public var levels: [RegistrationLevel]
        /// Half-width of the correlation window in voxels of each level's grid (2: 5x5x5).
        public var radius = 2
        /// Largest displacement one update adds, voxels of the level's grid.
        public var step = 1.0
        /// Gaussian sigma (voxels) of each update and of the total field (greedy's defaults: sqrt 3, sqrt 0.5).
        public var updateSigma = 3.0.squareRoot()
        public var totalSigma = 0.5.squareRoot()
        /// Fixed-point iterations of the inverse field.
        public var inverseIterations = 20
        /// A level stops once its metric (mean squared local correlation) gained less than this over its
        /// last 10 iterations; 0 runs every iteration.
        public var convergence = 0.0
        /// Threads (0: the bridge's thread setting).
        public var threads = 0

        public init(levels: [RegistrationLevel]) { self.levels = levels }
    }

    /// The fields and what the registration reached.
    public struct Result: Sendable {
        public let forward: VectorField
        public let inverse: VectorField
        /// Mean squared local correlation inside the fixed mask at the finest level (0...1, higher is better).
        public let metric: Double
        public let iterations: Int
        /// Largest |v(q) + u(q + v(q))| of the inverse, mm: how well the inverse undoes the forward map.
        public let inverseResidualMM: Double
    }

    /// Registers `moving` to `fixed` (its mask restricts the metric) from the linear map `initial`.
    public static func register(fixed: RegistrationImage, moving: RegistrationImage, initial: AffineTransform3D? = nil,
                                options: Options) throws -> Result {
        precondition(!options.levels.isEmpty && options.levels.count <= Int(TACO_MAX_LEVELS), "1...\(TACO_MAX_LEVELS) levels")
        var c = taco_greedy_options()
        c.levels = UInt32(options.levels.count)
        setSchedule(options.levels, shrink: &c.shrink, smoothing: &c.smoothing_mm, iterations: &c.iterations)
        c.radius = UInt32(max(0, options.radius))
        c.step = options.step
        c.update_sigma = options.updateSigma
        c.total_sigma = options.totalSigma
        c.inverse_iterations = UInt32(max(0, options.inverseIterations))
        c.convergence = options.convergence
        c.threads = UInt32(max(0, options.threads))
        var result = taco_greedy_result()
        let fields = try registerFields(fixed, moving, initial: initial) { fixedView, movingView, start, forward, inverse in
            taco_register_greedy(fixedView, movingView, start, &c, forward, inverse, &result)
        }
        return Result(forward: fields.forward, inverse: fields.inverse, metric: result.metric, iterations: Int(result.iterations),
                      inverseResidualMM: result.inverse_residual_mm)
    }
}
