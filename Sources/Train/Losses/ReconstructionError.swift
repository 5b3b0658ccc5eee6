/// The reconstruction term of docs/design.md §2: the mean squared error between the decoder's output and the
/// input crop, and its gradient with respect to the output.
public enum ReconstructionError {
    public static func evaluate(output: [Float], input: [Float]) throws -> (value: Float, gradient: [Float]) {
        guard output.count == input.count else { throw LossInputError("output has \(output.count) values, input \(input.count)") }
        guard !output.isEmpty else { return (0, []) }
        let n = Float(output.count)
        var sum: Double = 0
        var gradient = [Float](repeating: 0, count: output.count)
        for i in output.indices {
            let difference = output[i] - input[i]
            sum += Double(difference * difference)
            gradient[i] = 2 * difference / n
        }
        return (Float(sum / Double(n)), gradient)
    }
}
