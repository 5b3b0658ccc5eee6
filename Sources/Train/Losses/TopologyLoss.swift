import TacoCore

/// The total loss of docs/design.md §2 over a batch:
/// `L = w_rec * L_rec + w_intra * L_intra + w_inter * L_inter`, defaults 1, 0.1, 0.1 (the paper's 1, 10, 10
/// let the topology terms' gradients outweigh reconstruction's on these encoders: docs/method-study.md), where
/// `L_intra` is the mean over the batch's subjects of `L_ab + L_ba` and `L_inter = P(a->b) + P(b->a)`, each
/// the mean of `L_pq` over the batch's subject pairs (A = p's first view, B = q's second view for a->b).
/// Pairs whose matches give no term (no match has a positive) are left out of that mean.
///
/// ```swift
/// let loss = TopologyLoss()
/// var rng = SeededGenerator(seed: 0)
/// let result = try loss.evaluate(views: batchFeatures, pairs: batch.pairs, using: &rng)
/// // result.gradients[s].first / .second: dL/dZ for subject s's two views
/// ```
public struct TopologyLoss: Sendable, Equatable {
    public var intra: IntraInstanceTriplet
    public var inter: InterInstanceAlignment
    public var reconstructionWeight: Double
    public var intraWeight: Double
    public var interWeight: Double

    public init(intra: IntraInstanceTriplet = IntraInstanceTriplet(), inter: InterInstanceAlignment = InterInstanceAlignment(),
                reconstructionWeight: Double = 1, intraWeight: Double = 0.1, interWeight: Double = 0.1) {
        self.intra = intra
        self.inter = inter
        self.reconstructionWeight = reconstructionWeight
        self.intraWeight = intraWeight
        self.interWeight = interWeight
    }

    /// One subject's token features: `first` from one modality, `second` from the other (tokens x channels each).
    public struct Views: Sendable {
        public var first: Matrix<Float>
        public var second: Matrix<Float>
        public init(first: Matrix<Float>, second: Matrix<Float>) {
            self.first = first
            self.second = second
        }
    }

    /// The loss terms, the total and the gradients with respect to every view's features.
    public struct Result: Sendable {
        public var reconstruction: Float
        public var intra: Float
        public var inter: Float
        public var total: Float
        /// Per subject, dL/dZ of its two views (already weighted).
        public var gradients: [Views]
        /// dL/d(output) of the reconstruction (already weighted); empty when no reconstruction was given.
        public var reconstructionGradient: [Float]
        /// How many ordered pairs gave an inter-instance term, per direction (a->b, b->a).
        public var pairsUsed: (Int, Int)
    }

    /// Evaluates the total. `pairs` are ordered subject pairs with their matches (nil: match in feature
    /// space, the fallback); `reconstruction` is the decoder's output and the input crop, if any.
    public func evaluate(views: [Views], pairs: [SubjectPair], reconstruction: (output: [Float], input: [Float])? = nil,
                         using rng: inout SeededGenerator) throws -> Result {
        guard !views.isEmpty else { throw LossInputError("an empty batch") }
        var gradients = views.map { Views(first: Matrix(zeros: $0.first.rows, $0.first.columns), second: Matrix(zeros: $0.second.rows, $0.second.columns)) }
        var intraSum: Float = 0
        let intraScale = Float(intraWeight) / Float(views.count)
        for (s, view) in views.enumerated() {
            let result = try intra.evaluate(view.first, view.second, using: &rng)
            intraSum += result.value
            add(result.gradientA, scaled: intraScale, to: &gradients[s].first)
            add(result.gradientB, scaled: intraScale, to: &gradients[s].second)
        }
        let intraValue = intraSum / Float(views.count)

        var interValue: Float = 0
        var used = [0, 0]
        for direction in 0..<2 {
            var terms: [(q: Int, result: InterInstanceAlignment.Result<Float>)] = []
            for pair in pairs {
                guard views.indices.contains(pair.p), views.indices.contains(pair.q), pair.p != pair.q else {
                    throw LossInputError("pair (\(pair.p), \(pair.q)) is not two different subjects of a batch of \(views.count)")
                }
                let a = direction == 0 ? views[pair.p].first : views[pair.p].second
                let b = direction == 0 ? views[pair.q].second : views[pair.q].first
                let matches = pair.matches ?? FeatureMatches.match(a, b)
                let result = try inter.evaluate(a: a, b: b, matches: matches, using: &rng)
                if result.usedMatches > 0 { terms.append((pair.q, result)) }
            }
            used[direction] = terms.count
            guard !terms.isEmpty else { continue }
            let scale = Float(interWeight) / Float(terms.count)
            for (q, result) in terms {
                interValue += result.value / Float(terms.count)
                if direction == 0 { add(result.gradientB, scaled: scale, to: &gradients[q].second) } else { add(result.gradientB, scaled: scale, to: &gradients[q].first) }
            }
        }

        var reconstructionValue: Float = 0, reconstructionGradient: [Float] = []
        if let reconstruction {
            let r = try ReconstructionError.evaluate(output: reconstruction.output, input: reconstruction.input)
            reconstructionValue = r.value
            reconstructionGradient = r.gradient.map { $0 * Float(reconstructionWeight) }
        }
        let total = Float(reconstructionWeight) * reconstructionValue + Float(intraWeight) * intraValue + Float(interWeight) * interValue
        return Result(reconstruction: reconstructionValue, intra: intraValue, inter: interValue, total: total, gradients: gradients,
                      reconstructionGradient: reconstructionGradient, pairsUsed: (used[0], used[1]))
    }

    private func add(_ gradient: Matrix<Float>, scaled scale: Float, to target: inout Matrix<Float>) {
        for i in target.values.indices { target.values[i] += scale * gradient.values[i] }
    }
}

/// An ordered pair (p, q) of a batch's subjects for the inter-instance loss, with their token matches
/// (nil: no atlas coordinates to trust, so the loss matches in feature space).
public struct SubjectPair: Sendable, Equatable {
    public var p: Int
    public var q: Int
    public var matches: [TokenMatch]?

    public init(p: Int, q: Int, matches: [TokenMatch]?) {
        self.p = p
        self.q = q
        self.matches = matches
    }

    /// Up to `maxPairs` ordered pairs (p, q), p != q, of a batch of `subjects`, drawn without replacement.
    public static func draw(subjects: Int, maxPairs: Int, using rng: inout SeededGenerator) -> [(p: Int, q: Int)] {
        var all: [(p: Int, q: Int)] = []
        for p in 0..<subjects { for q in 0..<subjects where q != p { all.append((p, q)) } }
        var chosen: [(p: Int, q: Int)] = []
        while chosen.count < maxPairs, !all.isEmpty { chosen.append(all.remove(at: rng.integer(0...all.count - 1))) }
        return chosen
    }
}
