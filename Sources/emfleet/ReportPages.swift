import Cluster
import Datasets
import Engine
import Foundation
import Mixture
import Numerics
import Reports
import Training

/// The report pages of the job commands (`--report DIR`).
enum ReportPages {
    /// Writes `page` to `DIRECTORY/index.html` and says where: a line on standard output (even
    /// with `--quiet`: the report is an output the user asked for), or a `report` event in a JSON log.
    static func write(_ page: Report, to directory: String, log: EventLog) throws {
        try page.write(to: directory)
        let path = URL(fileURLWithPath: directory).appendingPathComponent("index.html").path
        if log.format == .json { log.json("report", [("path", path)]) } else { print("report written to \(path)") }
    }

    /// At most this many rows are drawn in scatter plots.
    static let sampleLimit = 5000

    /// A seeded sample of row indices (all rows when there are few), sorted.
    static func sampleIndices(rows: Int, seed: UInt64 = 0x5EED) -> [Int] {
        guard rows > sampleLimit else { return Array(0..<rows) }
        var generator = SeededGenerator(seed: seed)
        var chosen = Set<Int>()
        for j in (rows - sampleLimit)..<rows {
            let t = generator.nextInt(below: j + 1)
            chosen.insert(chosen.contains(t) ? j : t)
        }
        return chosen.sorted()
    }

    /// The sampled rows, fetched from wherever the shards live.
    static func sampleRows(_ runner: ShardRunner) throws -> FeatureMatrix {
        let indices = sampleIndices(rows: runner.plan.rows)
        var found = [Int: [Double]]()
        if case let .rows(rows) = try runner.run(.gatherRows(indices: indices)) {
            for row in rows { found[row.index] = row.values }
        }
        return FeatureMatrix(rows: indices.count, columns: runner.dimension, values: indices.flatMap { found[$0] ?? [] })
    }

    /// The log-likelihood chart, the data in its principal plane with each component's 2-σ ellipse, and the parameters.
    static func addMixture(_ model: GaussianMixture, runner: ShardRunner, to report: inout Report) throws {
        let history = model.logLikelihoodHistory
        report.addLineChart(
            id: "log-likelihood", title: model.variational == nil ? "Mean log-likelihood per EM iteration" : "Evidence lower bound per iteration",
            xLabel: "iteration", yLabel: model.variational == nil ? "mean log-likelihood" : "lower bound",
            series: [.init(name: model.variational == nil ? "log-likelihood" : "lower bound", pointClass: "ll", points: history.enumerated().map { (Double($0.offset + 1), $0.element) })])
        let sample = try sampleRows(runner)
        let labels = try model.predict(sample)
        let values = sample.doubles(), d = sample.columns
        let plane = PrincipalPlane(rows: values, dimension: d)
        let points = (0..<sample.rows).map { r -> (x: Double, y: Double, group: Int) in
            let p = plane.project(values[(r * d)..<((r + 1) * d)])
            return (p.x, p.y, labels[r])
        }
        // A variational fit draws only its effective components: the others sit on the prior with no rows.
        let effective = model.variational.map { VariationalFit.effectiveThreshold(components: $0.posterior.components) }
        let ellipses = plane.ellipses(of: model.parameters).filter { model.parameters.weights[$0.group] >= effective ?? 0 }
        report.addScatter(
            id: "projection",
            title: "The data on the first two principal components of its standardised columns (\(sample.rows) of \(runner.plan.rows) rows), "
                + "coloured by component, with 2-σ ellipses",
            xLabel: String(format: "PC1 of the standardised columns (%.0f%% of their variance)", 100 * plane.explained.0),
            yLabel: String(format: "PC2 (%.0f%%)", 100 * plane.explained.1),
            points: points, ellipses: ellipses, groupName: "component")
        let p = model.parameters
        // One column per feature (the first 6), named as the data names it.
        let names = featureNames(model.training?.featureColumns, count: p.dimension)
        let shown = min(p.dimension, 6)
        report.addTable(
            title: "Parameters (\(p.components) \(p.covarianceType.rawValue) components, \(p.dimension) features\(p.dimension > shown ? ", the means of the first \(shown) shown" : ""))",
            header: ["component", "weight"] + names.prefix(shown).map { "mean \($0)" } + ["covariance trace"],
            rows: (0..<p.components).map { k in
                let mean = (0..<shown).map { String(format: "%.4g", p.means[k * p.dimension + $0]) }
                let trace: Double = switch p.covarianceType {
                case .full: (0..<p.dimension).reduce(0) { $0 + p.covariances[k * p.dimension * p.dimension + $1 * p.dimension + $1] }
                case .tied: (0..<p.dimension).reduce(0) { $0 + p.covariances[$1 * p.dimension + $1] }
                case .diag: (0..<p.dimension).reduce(0) { $0 + p.covariances[k * p.dimension + $1] }
                case .spherical: p.covariances[k] * Double(p.dimension)
                }
                return ["\(k)", String(format: "%.4f", p.weights[k])] + mean + [String(format: "%.4g", trace)]
            })
    }

    /// The feature columns' names for a table's header: the model file's (header names, or
    /// positions for a file without names, shown as `column N`), else `x0`, `x1`, ….
    static func featureNames(_ columns: [String]?, count: Int) -> [String] {
        guard let columns, columns.count == count else { return (0..<count).map { "x\($0)" } }
        return columns.map { Int($0) != nil ? "column \($0)" : $0 }
    }

    /// BIC and AIC against K, one series per covariance type.
    static func addSelection(_ rows: [SelectionCandidate], to report: inout Report) {
        let types = Array(Set(rows.map(\.covariance))).sorted()
        var series = [Report.Series]()
        for type in types {
            let mine = rows.filter { $0.covariance == type }
            series.append(.init(name: "BIC (\(type))", pointClass: "bic", points: mine.map { (Double($0.components), $0.bic) }))
            series.append(.init(name: "AIC (\(type))", pointClass: "aic", points: mine.map { (Double($0.components), $0.aic) }))
        }
        report.addLineChart(id: "criteria", title: "BIC and AIC against the number of components", xLabel: "components (K)",
                            yLabel: "criterion (lower is better)", series: series)
        report.addTable(
            title: "Candidates", header: ["K", "covariance", "mean log-likelihood", "BIC", "AIC", "iterations", "converged", "seconds"],
            rows: rows.map { r in
                ["\(r.components)", r.covariance, String(format: "%.6f", r.meanLogLikelihood), String(format: "%.2f", r.bic),
                 String(format: "%.2f", r.aic), "\(r.iterations)", r.converged ? "yes" : "no", String(format: "%.2f", r.seconds)]
            })
    }

    /// Training and validation loss and accuracy per epoch, and the history table.
    static func addTraining(_ network: TrainedNetwork, title: String, to report: inout Report) {
        let history = network.history
        func series(_ name: String, _ pointClass: String, _ value: (EpochRecord) -> Double?) -> Report.Series? {
            let points = history.compactMap { record in value(record).map { (Double(record.epoch), $0) } }
            return points.isEmpty ? nil : .init(name: name, pointClass: pointClass, points: points)
        }
        report.addLineChart(id: "loss", title: "\(title): loss per epoch", xLabel: "epoch", yLabel: "loss",
                            series: [series("training", "loss", { $0.loss }), series("validation", "val-loss", { $0.validationLoss })].compactMap { $0 })
        let accuracy = [series("training", "accuracy", { $0.accuracy }), series("validation", "val-accuracy", { $0.validationAccuracy })].compactMap { $0 }
        if !accuracy.isEmpty {
            report.addLineChart(id: "accuracy", title: "\(title): accuracy per epoch", xLabel: "epoch", yLabel: "accuracy", series: accuracy)
        }
        let a = network.architecture, o = network.options
        report.addTable(
            title: "\(title): the network", header: ["setting", "value"],
            rows: [
                ["layers", a.layerSizes.map(String.init).joined(separator: "-")],
                ["hidden activation", a.activation.rawValue], ["loss", a.loss.rawValue],
                ["parameters", "\(a.parameterCount)"],
                ["optimizer", o.optimizer.kind.rawValue + String(format: ", learning rate %g", o.learningRate)],
                ["batch size", "\(o.batchSize)"], ["epochs run", "\(history.count) of \(o.epochs)"],
                ["weight decay", String(format: "%g", o.weightDecay)], ["L1 penalty", String(format: "%g", o.l1)], ["seed", "\(o.seed)"],
                ["training rows", "\(network.rows) in \(network.shards) shards"],
            ])
        report.addTable(
            title: "\(title): epochs (kept: epoch \(network.bestEpoch))",
            header: ["epoch", "loss", "accuracy", "validation loss", "validation accuracy", "validation R²"],
            rows: history.map { r in
                ["\(r.epoch)", String(format: "%.6f", r.loss), r.accuracy.map { String(format: "%.4f", $0) } ?? "-",
                 r.validationLoss.map { String(format: "%.6f", $0) } ?? "-", r.validationAccuracy.map { String(format: "%.4f", $0) } ?? "-",
                 r.validationR2.map { String(format: "%.4f", $0) } ?? "-"]
            })
    }
}
