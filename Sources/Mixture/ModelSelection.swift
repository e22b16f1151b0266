import Engine
import Foundation

/// The information criteria of a fitted model on `rows` rows: the one place BIC and AIC are computed.
public struct InformationCriteria: Sendable, Equatable {
    /// Bayesian information criterion, `−2·ln L + p·ln N`.
    public var bic: Double
    /// Akaike information criterion, `−2·ln L + 2p`.
    public var aic: Double

    /// The criteria of a model with `freeParameters` parameters whose log-likelihood over `rows` rows is `logLikelihoodSum`.
    public init(logLikelihoodSum: Double, rows: Int, freeParameters: Int) {
        self.init(logLikelihoodSum: logLikelihoodSum, weight: Double(rows), freeParameters: freeParameters)
    }

    /// The criteria with sample weights: `logLikelihoodSum` is Σ w log p and `weight` (Σ w) is
    /// the sample size N, as for the data with each row repeated its weight's number of times.
    public init(logLikelihoodSum: Double, weight: Double, freeParameters: Int) {
        let p = Double(freeParameters)
        bic = -2 * logLikelihoodSum + p * log(weight)
        aic = -2 * logLikelihoodSum + 2 * p
    }
}

/// Which information criterion picks the model.
public enum InformationCriterion: String, CaseIterable, Sendable, Codable {
    case bic, aic
}

/// Component counts to try: a number `K`, a range `LOW...HIGH` (or `LOW..HIGH`, `LOW-HIGH`), or a list `2,4,8`.
public struct ComponentCounts: Sendable, Equatable, CustomStringConvertible {
    /// The counts, in the order given.
    public var values: [Int]

    /// The counts `values`.
    public init(_ values: [Int]) { self.values = values }

    /// Parses `text`; nil when it is none of the accepted forms or holds a count below 1.
    public init?(parsing text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        for separator in ["...", "..", "-"] where trimmed.contains(separator) {
            let parts = trimmed.components(separatedBy: separator)
            guard parts.count == 2, let low = Int(parts[0]), let high = Int(parts[1]), low >= 1, high >= low else { return nil }
            values = Array(low...high)
            return
        }
        let parsed = trimmed.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parsed.isEmpty, parsed.allSatisfy({ ($0 ?? 0) >= 1 }) else { return nil }
        values = parsed.map { $0! }
    }

    /// As the option would be written.
    public var description: String {
        if values.count > 2, values == Array(values[0]...values[values.count - 1]) { return "\(values[0])...\(values[values.count - 1])" }
        return values.map(String.init).joined(separator: ",")
    }
}

/// One candidate of a selection sweep.
public struct SelectionCandidate: Codable, Sendable, Equatable {
    /// Components.
    public var components: Int
    /// Covariance type.
    public var covariance: String
    /// Mean log-likelihood of the final model on the data.
    public var meanLogLikelihood: Double
    /// BIC on the data.
    public var bic: Double
    /// AIC on the data.
    public var aic: Double
    /// EM iterations of the kept start.
    public var iterations: Int
    /// Whether the kept start converged.
    public var converged: Bool
    /// Seconds the candidate took (fit and scoring).
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case components, covariance, bic, aic, iterations, converged, seconds
        case meanLogLikelihood = "mean_log_likelihood"
    }

    /// The candidate's score by `criterion` (lower is better).
    public func score(_ criterion: InformationCriterion) -> Double { criterion == .bic ? bic : aic }
}

/// Automatic model selection: fits every candidate on one set of shards and keeps the best by BIC or AIC.
///
/// Each candidate's fit is the one ``MixtureFitter`` gives alone with the same options, so a
/// sweep over workers loads the rows once and every model is reproducible by itself.
public enum ModelSelection {
    /// Fits every candidate with `options` (its components and covariance type replaced), scores
    /// each final model on the data, and returns the best by `criterion` with every candidate.
    ///
    /// - Parameters:
    ///   - online: fit every candidate by stepwise EM with these settings instead of batch EM.
    ///   - onCandidate: called after each candidate, for progress.
    public static func run(
        _ runner: ShardRunner, counts: [Int], types: [CovarianceType], options: FitOptions, criterion: InformationCriterion,
        online: OnlineOptions? = nil, onCandidate: (SelectionCandidate) -> Void = { _ in }
    ) throws -> (best: GaussianMixture, candidates: [SelectionCandidate]) {
        var candidates = [SelectionCandidate]()
        var best: (model: GaussianMixture, score: Double)?
        for type in types {
            for k in counts {
                var candidate = options
                candidate.components = k
                candidate.covarianceType = type
                let clock = ContinuousClock.now
                let model = try online.map { try OnlineMixtureFitter(runner: runner, options: candidate, online: $0).fit() }
                    ?? MixtureFitter(runner: runner, options: candidate).fit()
                let (sum, _, weight) = try model.evaluate(on: runner, output: .none)
                let criteria = InformationCriteria(logLikelihoodSum: sum, weight: weight, freeParameters: model.freeParameters)
                let row = SelectionCandidate(
                    components: k, covariance: type.rawValue, meanLogLikelihood: sum / weight,
                    bic: criteria.bic, aic: criteria.aic,
                    iterations: model.iterations, converged: model.converged, seconds: (ContinuousClock.now - clock).seconds)
                candidates.append(row)
                if best == nil || row.score(criterion) < best!.score { best = (model, row.score(criterion)) }
                onCandidate(row)
            }
        }
        guard let best else { throw MixtureError.invalidData("model selection needs at least one candidate") }
        return (best.model, candidates)
    }
}
