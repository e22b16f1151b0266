import ArgumentParser
import Datasets
import Foundation
import Mixture

/// `emfleet demo`: the main job on built-in generated data, no file needed.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Generate a seeded mixture, fit it by EM, and show what was found.",
        discussion: "Uses the same code path as `emfleet gmm fit`; nothing is written unless --out is given."
    )

    @Option(name: .long, help: "Rows to generate.")
    var samples: Int = 200_000

    @Option(name: .long, help: "Features per row.")
    var features: Int = 8

    @Option(name: .long, help: "Components to generate and fit.")
    var components: Int = 5

    @Option(name: .long, help: "Covariance type to fit.")
    var covariance: CovarianceType = .full

    @Option(name: .long, help: "Random seed for the data and the fit.")
    var seed: UInt64 = 1

    @Option(name: .long, help: "Threads (default: all cores).")
    var threads: Int?

    @Option(name: .long, help: "Also write the fitted model here.")
    var out: String?

    func validate() throws {
        guard samples >= 1, features >= 1, components >= 1 else {
            throw ValidationError("--samples, --features and --components must be at least 1")
        }
        guard samples >= components else { throw ValidationError("--samples must be at least --components") }
    }

    func run() throws {
        try reportingErrors {
            print("generating \(samples) rows × \(features) features from \(components) Gaussian components (seed \(seed))")
            let generated = SyntheticMixture.generate(samples: samples, features: features, components: components, seed: seed)
            var options = FitOptions(components: components)
            options.covarianceType = covariance
            options.seed = seed
            print(FitReport.header)
            let clock = ContinuousClock.now
            let model = try GaussianMixture.fit(generated.features, options: options, threads: threads) { step in
                print(FitReport.iterationLine(step))
                fflush(nil)
            }
            let seconds = (ContinuousClock.now - clock).seconds
            if let out { try MixtureModelFile.write(model, to: out) }
            print(FitReport.summary(model, seconds: seconds, out: out))

            // How well the fitted components recover the generating ones.
            let predicted = try model.predict(generated.features, threads: threads)
            var table = [[Int]](repeating: [Int](repeating: 0, count: components), count: components)
            for (p, t) in zip(predicted, generated.labels) { table[p][t] += 1 }
            let matched = table.map { $0.max() ?? 0 }.reduce(0, +)
            print(String(format: "rows whose component matches the generating one (majority mapping): %.2f%%",
                         100 * Double(matched) / Double(samples)))
            print(String(format: "BIC on the training rows: %.1f", try model.bic(generated.features, threads: threads)))
        }
    }
}
