import ArgumentParser
import Datasets
import Engine
import Cluster
import Foundation
import Mixture
import Reports

/// `emfleet kmeans …`: fit k-means and apply it.
struct KMeansCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kmeans",
        abstract: "Fit k-means (Lloyd's algorithm, as scikit-learn's KMeans) and apply it.",
        subcommands: [Fit.self, Predict.self, Score.self]
    )
}

/// `--init`: k-means++, random, or a file of initial centres.
enum KMeansStart: ExpressibleByArgument, Equatable {
    case method(KMeansInitialisation)
    case file(String)

    init?(argument: String) {
        if let method = KMeansInitialisation(rawValue: argument) { self = .method(method) } else { self = .file(argument) }
    }

    var defaultValueDescription: String {
        switch self {
        case let .method(method): method.rawValue
        case let .file(path): path
        }
    }
}

extension KMeansCommand {
    /// Opens a k-means job's data with a message limit for both the k-means and the seeding tasks.
    static func open(
        _ input: DataOptions, shards: Int?, threads: Int?, cluster: ClusterOptions, weights: SampleWeightOptions? = nil, csv: CSVOptions? = nil
    ) throws -> OpenedJob {
        let csv = csv ?? input.layout.csvOptions
        return try OpenedJob(
            path: input.data, csv: weights?.csv(csv) ?? csv, shards: shards, threads: threads,
            cluster: cluster.settings, logFormat: cluster.logFormat, status: cluster.statusRequest, weights: weights?.sampleWeight,
            messageLimit: {
                max(KMeansJob.messageLimit(largestShard: $0.largestShardRows, columns: $0.dimension),
                    MixtureJob.messageLimit(largestShard: $0.largestShardRows, columns: $0.dimension))
            })
    }

    struct Fit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fit k-means and write the model file.",
            discussion: "Prints one line per Lloyd iteration (run, iteration, inertia, rows that changed cluster, centre shift, seconds) "
                + "and a summary. The model depends on --shards and --seed, never on --threads or the number of workers."
        )

        @OptionGroup var input: DataOptions

        @Option(name: [.customShort("k"), .long], help: "Number of clusters.")
        var clusters: Int

        @Option(name: .long, help: ArgumentHelp("First centres: k-means++, random, or a file of K rows (.npy or text).", valueName: "method|file"))
        var `init`: KMeansStart = .method(.kmeansPlusPlus)

        @Option(name: .long, help: "Runs from different seeds, the least inertia kept (default: 1 for k-means++ or a file, 10 for random).")
        var nInit: Int?

        @Option(name: .long, help: "Most Lloyd iterations per run.")
        var maxIter: Int = 300

        @Option(name: .long, help: "Stop when the squared centre shift is at most this times the mean feature variance.")
        var tol: Double = 1e-4

        @Option(name: .long, help: "Random seed.")
        var seed: UInt64 = 0

        @OptionGroup var weighting: SampleWeightOptions
        @OptionGroup var compute: ComputeOptions
        @OptionGroup var output: ModelOutputOptions
        @OptionGroup(title: "Cluster") var cluster: ClusterOptions
        @OptionGroup var checkpoints: CheckpointOptions

        func validate() throws {
            guard clusters >= 1 else { throw ValidationError("--clusters must be at least 1") }
            if let nInit, nInit < 1 { throw ValidationError("--n-init must be at least 1") }
            guard maxIter >= 1 else { throw ValidationError("--max-iter must be at least 1") }
            guard tol >= 0 else { throw ValidationError("--tol must not be negative") }
            if case .file = self.`init`, let nInit, nInit > 1 {
                throw ValidationError("--n-init \(nInit) with --init FILE: a run from given centres is made once")
            }
        }

        func run() throws {
            try reportingErrors {
                let out = output.out
                let checkpointPath = checkpoints.checkpoint ?? out + ".checkpoint"
                try OutputLocation.checkFile(out, option: "--out")
                try OutputLocation.checkFile(checkpointPath, option: "--checkpoint")
                if let report = output.report { try OutputLocation.checkFolder(report, option: "--report") }
                var options = KMeansOptions(clusters: clusters)
                options.runs = nInit
                options.maxIterations = maxIter
                options.tolerance = tol
                options.seed = seed
                switch self.`init` {
                case let .method(method): options.initialisation = method
                case let .file(path):
                    let centers = try DatasetLoader.load(path: path, csv: input.layout.csvOptions, finiteOnly: true).features
                    guard centers.rows == clusters else {
                        throw ValidationError("--init \(path): \(centers.rows) rows of centres for --clusters \(clusters)")
                    }
                    options.initialCenters = (0..<centers.rows).map { r in (0..<centers.columns).map { centers[row: r, column: $0] } }
                }
                let resume = checkpoints.resume(out: out)
                let resumed = try resume.map { try FileKind.require($0, is: KMeansCheckpoint.format); return try KMeansCheckpoint.read(from: $0) }
                let fingerprint = try weighting.fingerprint(data: input.data)
                if let resumed, let resume, resumed.dataFingerprint != fingerprint {
                    let what = weighting.isWeighted ? "\(input.data) or its sample weights" : input.data
                    throw ValidationError("\(resume): the checkpoint was written for another version of \(what)")
                }
                let job = try KMeansCommand.open(input, shards: compute.shards, threads: compute.threads, cluster: cluster, weights: weighting)
                job.warnAboutIdentifierFeatures(path: input.data, csv: weighting.csv(input.layout.csvOptions))
                let imputationMeans = try job.noteMissingValues(path: input.data, csv: weighting.csv(input.layout.csvOptions))
                defer { job.finish() }
                job.status?.board.expect(steps: options.maxIterations * (options.runs ?? 1))
                let runner = job.runner
                if let resumed, let resume {
                    job.log.note("resuming \(resume) from iteration \(resumed.history.count) of run \(resumed.run + 1)")
                }
                if let given = options.initialCenters, case let .file(path) = self.`init`, given[0].count != runner.dimension {
                    throw ValidationError("--init \(path): centres of \(given[0].count) features; \(input.data) has \(runner.dimension)")
                }
                let fitter = KMeansFitter(runner: runner, options: options)
                try fitter.validate()
                let log = job.log
                let text = log.format == .text && !output.quiet
                if text {
                    let whereComputed = cluster.workers.map { "\($0) local workers" } ?? cluster.bind.map { "workers at \($0)" }
                        ?? "\(compute.threads ?? ProcessInfo.processInfo.activeProcessorCount) threads"
                    print("k-means: \(clusters) clusters on \(runner.plan.rows) \(weighting.isWeighted ? "weighted " : "")rows × \(runner.dimension) features "
                        + "(\(runner.plan.count) shards, \(whereComputed)), \(options.runCount) run(s)")
                    print("  run  iter                inertia    changed      shift  seconds")
                }
                InterruptCleanup.noteCheckpoint(checkpointPath)
                let clock = ContinuousClock.now
                var model = try fitter.fit(
                    resuming: resumed, checkpointEvery: checkpoints.checkpointEvery,
                    checkpoint: { state in
                        var state = state
                        state.dataFingerprint = fingerprint
                        try state.write(to: checkpointPath)
                    },
                    progress: { step in
                        log.json("iteration", [
                            ("run", step.run + 1), ("iteration", step.iteration), ("inertia", step.inertia), ("changed_rows", step.changedRows),
                            ("center_shift", step.centerShift), ("relocated_clusters", step.relocated), ("seconds", step.seconds),
                            ("live_workers", job.liveWorkers.map { $0 as Any } ?? NSNull()),
                        ])
                        guard text else { return }
                        print(String(format: "%5d %5d %22.10f %10d %10.3e %8.3f%@", step.run + 1, step.iteration, step.inertia,
                                     step.changedRows, step.centerShift, step.seconds,
                                     step.relocated > 0 ? "  (\(step.relocated) empty cluster(s) given far rows)" : ""))
                        fflush(nil)
                    })
                model.training?.featureColumns = try DatasetLoader.featureColumnNames(path: input.data, csv: weighting.csv(input.layout.csvOptions))
                model.training?.imputationMeans = imputationMeans
                try KMeansModelFile.write(model, to: out)
                try? FileManager.default.removeItem(atPath: checkpointPath)
                if let report = output.report {
                    var page = Report(title: "emfleet kmeans fit: \(clusters) clusters on \(URL(fileURLWithPath: input.data).lastPathComponent)")
                    page.addText(String(format: "%@ after %d iterations; inertia %.10g.", model.converged ? "Converged" : "Did not converge",
                                        model.iterations, model.inertia))
                    try ReportPages.addKMeans(model, runner: runner, to: &page)
                    try ReportPages.write(page, to: report, log: job.log)
                }
                let seconds = (ContinuousClock.now - clock).seconds
                log.json("done", [("converged", model.converged), ("iterations", model.iterations), ("inertia", model.inertia),
                                  ("seconds", seconds), ("out", out)])
                if log.format == .text {
                    print(String(format: "%@ after %d iterations; inertia %.10g; %.2f s; model written to %@",
                                 model.converged ? "converged" : "did not converge", model.iterations, model.inertia, seconds, out))
                }
            }
        }
    }

    /// A k-means model file applied to a data file.
    struct AppliedKMeansOptions: ParsableArguments {
        @Option(name: .long, help: ArgumentHelp("Model file from `kmeans fit`.", valueName: "file"))
        var model: String

        @OptionGroup var input: DataOptions
        @OptionGroup var threading: ThreadOptions
        @OptionGroup(title: "Cluster") var cluster: ClusterOptions

        func assign(_ output: KMeansRowOutput, weights: SampleWeightOptions? = nil) throws -> (model: KMeansModel, rows: Int, inertia: Double, perRow: [Double], csv: CSVOptions) {
            try FileKind.require(model, is: KMeansModelFile.format)
            let fitted = try KMeansModelFile.read(from: model)
            let csv = try input.csvOptions(forModelColumns: fitted.training?.featureColumns, imputationMeans: fitted.training?.imputationMeans, model: model)
            let job = try KMeansCommand.open(input, shards: nil, threads: threading.threads, cluster: cluster, weights: weights, csv: csv)
            defer { job.finish() }
            try job.noteMissingValues(path: input.data, csv: weights?.csv(csv) ?? csv)
            guard job.runner.dimension == fitted.dimension else {
                throw ValidationError("\(model) has \(fitted.dimension) features; \(input.data) has \(job.runner.dimension)")
            }
            let result = try fitted.assign(on: job.runner, output: output)
            return (fitted, job.runner.plan.rows, result.inertia, result.perRow, weights?.csv(csv) ?? csv)
        }
    }

    struct Predict: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Label each row with its nearest centre (or write its distances to every centre).")

        @OptionGroup var applied: AppliedKMeansOptions

        @Option(name: [.short, .long], help: "Output file, .npy or .csv by extension.")
        var out: String

        @Flag(name: .long, help: "Write the N×K Euclidean distances to the centres (scikit-learn's transform) instead of labels.")
        var distances = false

        @OptionGroup var identifiers: IdentifierColumnOption

        func run() throws {
            try reportingErrors {
                try OutputLocation.checkFile(out, option: "--out")
                try checkTableOutput(out)
                try identifiers.check(out: out)
                let result = try applied.assign(distances ? .distances : .labels)
                let ids = try identifiers.read(applied.input, csv: result.csv, rows: result.rows)
                if distances {
                    let k = result.model.clusters
                    try writeMatrix(result.perRow, rows: result.rows, columns: k, header: (0..<k).map { "distance_\($0)" }, ids: ids, to: out)
                } else {
                    try writeLabels(result.perRow.map { Int($0) }, ids: ids, to: out)
                }
                print("wrote \(distances ? "distances" : "labels") for \(result.rows) rows to \(out)")
            }
        }
    }

    struct Score: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Inertia of a model on data: Σ (weight ×) squared distance to the nearest centre (scikit-learn's score is its negative).")

        @OptionGroup var applied: AppliedKMeansOptions
        @OptionGroup var weighting: SampleWeightOptions

        @Flag(name: .long, help: "Print one JSON object instead of text.")
        var json = false

        func run() throws {
            try reportingErrors {
                let result = try applied.assign(.none, weights: weighting)
                if json {
                    let object: [String: Any] = ["rows": result.rows, "inertia": result.inertia, "score": -result.inertia]
                    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
                    print(String(decoding: data, as: UTF8.self))
                } else if weighting.isWeighted {
                    print(String(format: "rows %d  weighted inertia %.10g", result.rows, result.inertia))
                } else {
                    print(String(format: "rows %d  inertia %.10g  mean squared distance %.10g", result.rows, result.inertia,
                                 result.inertia / Double(max(1, result.rows))))
                }
            }
        }
    }
}

extension ReportPages {
    /// Inertia per iteration, the data on its principal plane coloured by cluster with the centres, and the centres.
    static func addKMeans(_ model: KMeansModel, runner: ShardRunner, to report: inout Report) throws {
        report.addLineChart(
            id: "inertia", title: "Inertia per Lloyd iteration (kept run)", xLabel: "iteration", yLabel: "inertia",
            series: [.init(name: "inertia", pointClass: "inertia",
                           points: model.inertiaHistory.enumerated().map { (Double($0.offset + 1), $0.element) })])
        let sample = try sampleRows(runner)
        let values = sample.doubles(), d = sample.columns
        let centers = model.centers.flatMap { $0 }
        let plane = PrincipalPlane(rows: values, dimension: d)
        let points = (0..<sample.rows).map { r -> (x: Double, y: Double, group: Int) in
            let row = values[(r * d)..<((r + 1) * d)]
            var best = 0, bestDistance = Double.infinity
            for c in 0..<model.clusters {
                var distance = 0.0
                for j in 0..<d { distance += (row[row.startIndex + j] - centers[c * d + j]) * (row[row.startIndex + j] - centers[c * d + j]) }
                if distance < bestDistance { bestDistance = distance; best = c }
            }
            let p = plane.project(row)
            return (p.x, p.y, best)
        }
        // Each centre is drawn as a small ring in its cluster's colour.
        let xs = points.map(\.x), ys = points.map(\.y)
        let radius = 0.02 * max((xs.max() ?? 1) - (xs.min() ?? 0), (ys.max() ?? 1) - (ys.min() ?? 0), 1e-12)
        let marks = (0..<model.clusters).map { c -> Report.Ellipse in
            let p = plane.project(centers[(c * d)..<((c + 1) * d)])
            return Report.Ellipse(centre: (p.x, p.y), radii: (radius, radius), angle: 0, group: c)
        }
        report.addScatter(
            id: "projection",
            title: "The data on the first two principal components of its standardised columns (\(sample.rows) of \(runner.plan.rows) rows), coloured by nearest centre",
            xLabel: String(format: "PC1 of the standardised columns (%.0f%% of their variance)", 100 * plane.explained.0),
            yLabel: String(format: "PC2 (%.0f%%)", 100 * plane.explained.1),
            points: points, ellipses: marks, groupName: "cluster")
        let names = featureNames(model.training?.featureColumns, count: d)
        report.addTable(
            title: "Centres (\(model.clusters) clusters, \(d) features\(d > 6 ? ", the first 6 shown" : ""))",
            header: ["cluster"] + names.prefix(6),
            rows: model.centers.enumerated().map { c, centre in
                ["\(c)"] + centre.prefix(6).map { String(format: "%.4g", $0) }
            })
    }
}
