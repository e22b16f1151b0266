import ArgumentParser
import Cluster
import Datasets
import Engine
import Foundation
import Mixture
import Reports

extension InformationCriterion: ExpressibleByArgument {}

extension ComponentCounts: ExpressibleByArgument {
    /// Parses `--components` values: K, LOW...HIGH, or a list like 2,4,8.
    public init?(argument: String) { self.init(parsing: argument) }
}

/// A comma-separated list of covariance types, for `--covariance full,diag`.
struct CovarianceTypes: ExpressibleByArgument, CustomStringConvertible {
    var values: [CovarianceType]

    init(_ values: [CovarianceType]) { self.values = values }

    init?(argument: String) {
        let names = argument.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        let types = names.compactMap(CovarianceType.init(rawValue:))
        guard !types.isEmpty, types.count == names.count else { return nil }
        values = types
    }

    var description: String { values.map(\.rawValue).joined(separator: ",") }
}

extension GMMCommand {
    /// `emfleet gmm select`: fit every candidate on one set of shards and keep the best by BIC or AIC.
    struct Select: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fit a mixture for every number of components (and covariance type) and keep the best by BIC or AIC.",
            discussion: """
                Every candidate runs on the same shards (in this process or on the same workers, which \
                load their rows once for the whole sweep). Each fit is the one `emfleet gmm fit` gives \
                alone with the same options and seed, byte for byte. BIC and AIC use the final model's \
                log-likelihood on the data, as `gmm score` computes it.
                """)

        @OptionGroup var input: DataOptions
        @OptionGroup var weighting: SampleWeightOptions

        @Option(name: [.short, .long], help: ArgumentHelp("Component counts: K, LOW...HIGH, or a list like 2,4,8.", valueName: "range"))
        var components: ComponentCounts

        @Option(name: .long, help: "Covariance types, comma-separated (full, tied, diag, spherical).")
        var covariance = CovarianceTypes([.full])

        @Option(name: .long, help: "The criterion that picks the best model: bic or aic.")
        var criterion: InformationCriterion = .bic

        @OptionGroup var em: EMOptions

        @OptionGroup(title: "Stepwise (online) EM") var stepwise: OnlineArguments

        @OptionGroup var compute: ComputeOptions
        @OptionGroup var output: ModelOutputOptions

        var shards: Int? { compute.shards }
        var threads: Int? { compute.threads }
        var out: String { output.out }
        var report: String? { output.report }

        @Option(name: .long, help: ArgumentHelp("Also write the table of candidates here (.csv or .json).", valueName: "file"))
        var table: String?


        @OptionGroup(title: "Cluster") var cluster: ClusterOptions

        var covarianceTypes: [CovarianceType] { covariance.values }

        /// Starts per candidate without `--n-init` (batch EM). One start stops in a local optimum
        /// often enough that BIC then prefers too many components (on the README tour's data: K = 18
        /// for 16 generating components); docs/BENCHMARKS.md measures this against scikit-learn.
        static let defaultStarts = 4

        /// `141...160` for a run of consecutive counts, else `2, 4, 8`.
        static func describe(_ counts: [Int]) -> String {
            guard counts.count > 2, let first = counts.first, let last = counts.last, first <= last, counts == Array(first...last) else {
                return counts.map(String.init).joined(separator: ", ")
            }
            return "\(first)...\(last)"
        }

        func validate() throws {
            if let table, !(table.hasSuffix(".csv") || table.hasSuffix(".json")) {
                throw ValidationError("--table writes .csv or .json, not '\(table)'")
            }
        }

        func run() throws {
            try reportingErrors {
                try OutputLocation.checkFile(out, option: "--out")
                if let table { try OutputLocation.checkFile(table, option: "--table") }
                if let report { try OutputLocation.checkFolder(report, option: "--report") }
                let job = try OpenedJob(data: input, shards: shards, threads: threads, cluster: cluster, weights: weighting, online: stepwise.options())
                defer { job.finish() }
                job.warnAboutIdentifierFeatures(path: input.data, csv: weighting.csv(input.layout.csvOptions))
                let imputationMeans = try job.noteMissingValues(path: input.data, csv: weighting.csv(input.layout.csvOptions))
                job.coordinator?.onShardDone = nil
                let runner = job.runner, events = job.log
                // A candidate with more components than rows cannot be fitted; the others still can.
                let rowCount = runner.plan.rows
                let counts = components.values.filter { $0 <= rowCount }
                let skipped = components.values.filter { $0 > rowCount }
                guard !counts.isEmpty else {
                    throw ValidationError("\(input.data): the data has \(rowCount) rows, fewer than the \(components.values.min() ?? 0) components of the smallest candidate")
                }
                if !skipped.isEmpty {
                    events.note("warning: skipping \(Self.describe(skipped)) components: the data has \(rowCount) rows, and a mixture needs a row per component")
                }
                let summary = events.format == .text, text = summary && !output.quiet
                if text {
                    print("selecting among \(counts.count * covarianceTypes.count) candidates on \(runner.plan.rows) rows × \(runner.dimension) features "
                        + "(\(runner.plan.count) shards) by \(criterion.rawValue.uppercased())")
                    print(Self.header)
                }
                var base = em.fitOptions(components: 1)
                // A stepwise fit has one start; batch EM gets several unless --n-init says otherwise.
                if em.nInit == nil, stepwise.options() == nil { base.restarts = Self.defaultStarts }
                if let online = stepwise.options() {
                    // Settings that cannot work are refused before the first candidate.
                    var first = base
                    first.components = counts.min() ?? 1
                    try OnlineMixtureFitter(runner: runner, options: first, online: online).validate()
                }
                var (chosen, rows) = try ModelSelection.run(
                    runner, counts: counts, types: covarianceTypes, options: base, criterion: criterion, online: stepwise.options()
                ) { row in
                    events.json("candidate", [
                        ("components", row.components), ("covariance", row.covariance), ("mean_log_likelihood", row.meanLogLikelihood),
                        ("bic", row.bic), ("aic", row.aic), ("iterations", row.iterations), ("converged", row.converged), ("seconds", row.seconds),
                    ])
                    if text { print(Self.line(row)); fflush(nil) }
                }
                chosen.training?.featureColumns = try DatasetLoader.featureColumnNames(path: input.data, csv: weighting.csv(input.layout.csvOptions))
                chosen.training?.imputationMeans = imputationMeans
                try MixtureModelFile.write(chosen, to: out)
                if let table { try Self.write(rows, to: table) }
                if let report {
                    var page = Report(title: "emfleet gmm select on \(URL(fileURLWithPath: input.data).lastPathComponent)")
                    page.addText("Best by \(criterion.rawValue.uppercased()): \(chosen.parameters.components) \(chosen.parameters.covarianceType.rawValue) components.")
                    ReportPages.addSelection(rows, to: &page)
                    try ReportPages.addMixture(chosen, runner: runner, to: &page)
                    try ReportPages.write(page, to: report, log: job.log)
                }
                let k = chosen.parameters.components, type = chosen.parameters.covarianceType.rawValue
                events.json("done", [("components", k), ("covariance", type), ("criterion", criterion.rawValue), ("out", out)])
                if summary {
                    print("best by \(criterion.rawValue.uppercased()): \(k) \(type) components; model written to \(out)"
                        + (table.map { ", table to \($0)" } ?? ""))
                }
            }
        }

        static let header = [("K", 4), ("covariance", 10), ("mean log-likelihood", 20), ("BIC", 16), ("AIC", 16), ("iter", 5), ("converged", 9), ("seconds", 8)]
            .map { String(repeating: " ", count: max(0, $1 - $0.count)) + $0 }.joined(separator: " ")

        static func line(_ row: SelectionCandidate) -> String {
            String(format: "%4d %10@ %20.10f %16.4f %16.4f %5d %9@ %8.2f",
                   row.components, row.covariance.padding(toLength: 10, withPad: " ", startingAt: 0) as NSString,
                   row.meanLogLikelihood, row.bic, row.aic, row.iterations, (row.converged ? "     true" : "    false") as NSString, row.seconds)
        }

        static func write(_ rows: [SelectionCandidate], to path: String) throws {
            if path.hasSuffix(".json") {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                try encoder.encode(rows).write(to: URL(fileURLWithPath: path), options: .atomic)
            } else {
                let header = ["components", "covariance", "mean_log_likelihood", "bic", "aic", "iterations", "converged", "seconds"]
                let cells = rows.map { r in
                    ["\(r.components)", r.covariance, "\(r.meanLogLikelihood)", "\(r.bic)", "\(r.aic)", "\(r.iterations)", "\(r.converged)", "\(r.seconds)"]
                }
                try CSVWriter.writeColumns(header: header, rows: cells, to: path)
            }
        }
    }
}
