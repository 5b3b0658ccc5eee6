import Foundation

/// An encoder `taco evaluate` scores, with the name its report gives it.
public struct EvaluatedEncoder: Sendable {
    public let trained: TrainedModel
    /// "RUN (TACO, step N)", "RUN (reconstruction-only, step N)", or "random init" (numbered after the first).
    public let name: String
    /// The run's ablation ("reconstruction-only"), nil for TACO's losses and for random init.
    public let ablation: String?

    /// The encoders of run folders, weights files or checkpoints (a checkpoint inside `RUN/checkpoints/` is
    /// named by its run), then, with `randomInit`, each distinct architecture among them at its initialisation.
    public static func encoders(_ paths: [URL], randomInit: Bool) throws -> [EvaluatedEncoder] {
        var out: [EvaluatedEncoder] = []
        for path in paths {
            let trained = try TrainedModel(contentsOf: path)
            let ablation = trained.configuration.ablation?.rawValue
            out.append(.init(trained: trained, name: "\(runName(path)) (\(ablation ?? "TACO"), step \(trained.step))", ablation: ablation))
        }
        guard randomInit else { return out }
        var initial: [ModelConfiguration] = []
        for encoder in out where !initial.contains(encoder.trained.configuration.model) {
            initial.append(encoder.trained.configuration.model)
            let name = initial.count == 1 ? "random init" : "random init \(initial.count)"
            out.append(.init(trained: try TrainedModel.initial(encoder.trained.configuration), name: name, ablation: nil))
        }
        return out
    }

    /// The run a path names: its folder, also for a checkpoint file inside the run's `checkpoints/`.
    static func runName(_ path: URL) -> String {
        let parent = path.standardizedFileURL.deletingLastPathComponent()
        return parent.lastPathComponent == RunLayout.checkpointsFolder ? parent.deletingLastPathComponent().lastPathComponent : path.lastPathComponent
    }
}
