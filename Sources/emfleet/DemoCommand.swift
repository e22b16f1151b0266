import ArgumentParser
import Datasets
import Engine
import Foundation
import Cluster
import Mixture

/// `emfleet demo`: the main job on built-in generated data, no file needed.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Generate a seeded mixture, fit it by EM, and show what was found.",
        discussion: """
            Writes the generated rows to a private temporary .npy file and fits them on --workers local \
            worker processes (0: in this process), exactly as `emfleet gmm fit --workers N` does; the \
            file is removed afterwards and nothing else is written unless --out is given.
            """
    )

    @Option(name: .long, help: "Rows to generate.")
    var samples: Int = 200_000

    @Option(name: .long, help: "Features per row.")
    var features: Int = 2

    @Option(name: .long, help: "Components to generate and fit.")
    var components: Int = 5

    @Option(name: .long, help: "Covariance type to fit.")
    var covariance: CovarianceType = .full

    @Option(name: .long, help: "Random seed for the data and the fit.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Local worker processes to fit on (0: fit in this process).")
    var workers: Int = 2

    @Option(name: .long, help: "Threads in this process when --workers is 0 (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "Also write the fitted model here.")
    var out: String?

    func validate() throws {
        guard samples >= 1, features >= 1, components >= 1 else {
            throw ValidationError("--samples, --features and --components must be at least 1")
        }
        guard samples >= components else { throw ValidationError("--samples must be at least --components") }
        guard workers >= 0 else { throw ValidationError("--workers must not be negative") }
    }

    func run() throws {
        try reportingErrors {
            if let out { try OutputLocation.checkFile(out, option: "--out") }
            print("generating \(samples) rows × \(features) features from \(components) Gaussian components (seed \(seed))")
            let generated = SyntheticMixture.generate(samples: samples, features: features, components: components, seed: seed)
            var template = Array("\(FileManager.default.temporaryDirectory.path)/emfleet-demo-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw ValidationError("cannot create a temporary directory") }
            let directory = String(cString: made)
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let path = directory + "/demo.npy"
            try NPYWriter.write(generated.features, to: path)

            var cluster = ClusterSettings()
            cluster.workers = workers > 0 ? workers : nil
            let job = try OpenedJob(path: path, csv: CSVOptions(), shards: nil, threads: threads, cluster: cluster)
            defer { job.finish() }
            var options = FitOptions(components: components)
            options.covarianceType = covariance
            options.seed = seed
            print("fitting \(components) \(covariance.rawValue) components on "
                + (workers > 0 ? "\(workers) local worker processes" : "this process") + " (\(job.runner.plan.count) shards)")
            print(FitReport.header + (job.coordinator != nil ? "  workers" : ""))
            let clock = ContinuousClock.now
            let model = try MixtureFitter(runner: job.runner, options: options).fit(progress: { step in
                print(FitReport.iterationLine(step) + (job.liveWorkers.map { String(format: " %8d", $0) } ?? ""))
                fflush(nil)
            })
            let seconds = (ContinuousClock.now - clock).seconds
            if let out { try MixtureModelFile.write(model, to: out) }
            print(FitReport.summary(model, seconds: seconds, out: out))

            // How well the fitted components recover the generating ones.
            let scored = try model.evaluate(on: job.runner, output: .labels)
            let predicted = scored.perRow.map { Int($0) }
            var table = [[Int]](repeating: [Int](repeating: 0, count: components), count: components)
            for (p, t) in zip(predicted, generated.labels) { table[p][t] += 1 }
            let matched = table.map { $0.max() ?? 0 }.reduce(0, +)
            print(String(format: "rows whose component matches the generating one (majority mapping): %.2f%%",
                         100 * Double(matched) / Double(samples)))
            let bic = InformationCriteria(logLikelihoodSum: scored.sum, rows: samples, freeParameters: model.freeParameters).bic
            print(String(format: "BIC on the training rows: %.1f", bic))
        }
    }
}
