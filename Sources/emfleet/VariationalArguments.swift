import ArgumentParser
import Datasets
import Foundation
import Mixture
import Reports

/// The weight prior `--variational` names, as scikit-learn's `weight_concentration_prior_type` with dashes.
enum VariationalPriorArgument: String, ExpressibleByArgument, CaseIterable {
    case dirichletProcess = "dirichlet-process"
    case dirichletDistribution = "dirichlet-distribution"

    var weightPriorType: WeightPriorType {
        switch self {
        case .dirichletProcess: .dirichletProcess
        case .dirichletDistribution: .dirichletDistribution
        }
    }
}

/// `gmm fit --variational …`: a variational Bayesian fit (scikit-learn's `BayesianGaussianMixture`) and its priors.
struct VariationalArguments: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Fit by variational Bayes (scikit-learn's BayesianGaussianMixture) with this weight prior instead of EM: "
            + "dirichlet-process or dirichlet-distribution. --tol is then on the change of the evidence lower bound.",
        valueName: "prior"))
    var variational: VariationalPriorArgument?

    @Option(name: .long, help: ArgumentHelp("Weight concentration prior (default 1/K); positive.", valueName: "x"))
    var weightConcentrationPrior: Double?

    @Option(name: .long, help: ArgumentHelp("Mean precision prior (default 1); positive.", valueName: "x"))
    var meanPrecisionPrior: Double?

    @Option(name: .long, help: ArgumentHelp("Mean prior (default: the data mean): D numbers separated by commas, or a file of them (.npy or text).", valueName: "x,y,…|file"))
    var meanPrior: String?

    @Option(name: .long, help: ArgumentHelp("Degrees-of-freedom prior (default D); above D − 1.", valueName: "x"))
    var degreesOfFreedomPrior: Double?

    @Option(name: .long, help: ArgumentHelp(
        "Covariance prior (default: the data covariance in the covariance type's shape): full and tied D×D numbers in row order, "
            + "diag D, spherical one; separated by commas, or a file of them.",
        valueName: "x,y,…|file"))
    var covariancePrior: String?

    func validate() throws {
        if variational == nil {
            let given = [("--weight-concentration-prior", weightConcentrationPrior != nil), ("--mean-precision-prior", meanPrecisionPrior != nil),
                         ("--mean-prior", meanPrior != nil), ("--degrees-of-freedom-prior", degreesOfFreedomPrior != nil),
                         ("--covariance-prior", covariancePrior != nil)].filter(\.1).map(\.0)
            if let first = given.first { throw ValidationError("\(first) is a prior of a variational fit; give --variational too") }
        }
        for (name, value) in [("--weight-concentration-prior", weightConcentrationPrior), ("--mean-precision-prior", meanPrecisionPrior)] {
            if let value, !(value > 0 && value.isFinite) { throw ValidationError("\(name) must be a positive number (got \(value))") }
        }
        if let value = degreesOfFreedomPrior, !(value > 0 && value.isFinite) {
            throw ValidationError("--degrees-of-freedom-prior must be a positive number above the feature count less one (got \(value))")
        }
        _ = try numbers(meanPrior, option: "--mean-prior")
        if let values = try numbers(covariancePrior, option: "--covariance-prior"), values.allSatisfy({ $0 == 0 }) {
            throw ValidationError("--covariance-prior must be positive definite (it is all zeros)")
        }
    }

    /// The priors asked for, or nil for an EM fit.
    func options() throws -> VariationalOptions? {
        guard let variational else { return nil }
        var options = VariationalOptions(weightPriorType: variational.weightPriorType)
        options.weightConcentrationPrior = weightConcentrationPrior
        options.meanPrecisionPrior = meanPrecisionPrior
        options.meanPrior = try numbers(meanPrior, option: "--mean-prior")
        options.degreesOfFreedomPrior = degreesOfFreedomPrior
        options.covariancePrior = try numbers(covariancePrior, option: "--covariance-prior")
        return options
    }

    /// Numbers separated by commas, or the numbers of a file (.npy, or text separated by commas or white space).
    private func numbers(_ text: String?, option: String) throws -> [Double]? {
        guard let text else { return nil }
        var values = [Double]()
        if !text.contains(","), FileManager.default.fileExists(atPath: text) {
            if text.lowercased().hasSuffix(".npy") {
                values = try NPYReader(path: text).readAll().doubles()
            } else {
                guard let contents = FileManager.default.contents(atPath: text) else { throw ValidationError("\(option): cannot read \(text)") }
                for field in String(decoding: contents, as: UTF8.self).split(whereSeparator: { $0 == "," || $0.isWhitespace }) {
                    guard let value = Double(field), value.isFinite else { throw ValidationError("\(option): \(text) holds \"\(field)\", expected a number") }
                    values.append(value)
                }
            }
        } else {
            for field in text.split(separator: ",", omittingEmptySubsequences: false) {
                let trimmed = field.trimmingCharacters(in: .whitespaces)
                guard let value = Double(trimmed), value.isFinite else {
                    throw ValidationError("\(option): \"\(trimmed)\" is not a number (give numbers separated by commas, or a file)")
                }
                values.append(value)
            }
        }
        guard !values.isEmpty, values.allSatisfy(\.isFinite) else { throw ValidationError("\(option): no numbers in \(text)") }
        return values
    }
}

/// Lines printed during and after a variational fit.
enum VariationalReport {
    /// Column titles lined up with ``FitReport/iterationLine(_:)``.
    static let header = [("start", 5), ("iter", 5), ("lower bound", 22), ("change", 12), ("seconds", 9)]
        .map { title, width in String(repeating: " ", count: max(0, width - title.count)) + title }
        .joined(separator: " ")

    /// The summary: convergence, lower bound, the effective components and each component's weight.
    static func summary(_ model: GaussianMixture, seconds: Double, out: String?) -> String {
        let p = model.parameters
        var lines = [String(
            format: "%@ after %d iterations; lower bound %.10f; %.2f s%@",
            model.converged ? "converged" : "did not converge", model.iterations, model.lowerBound, seconds,
            out.map { "; model written to \($0)" } ?? "")]
        if let fit = model.variational {
            lines.append(String(
                format: "effective components: %d of %d (expected weight at least %g)", fit.effectiveComponents, p.components,
                VariationalFit.effectiveThreshold(components: p.components)))
        }
        let d = p.dimension
        for k in 0..<p.components {
            let mean = (0..<min(d, 4)).map { String(format: "%.4g", p.means[k * d + $0]) }.joined(separator: ", ")
            lines.append(String(format: "  component %2d  weight %.4f  mean [%@%@]", k, p.weights[k], mean, d > 4 ? ", …" : ""))
        }
        return lines.joined(separator: "\n")
    }
}

extension ReportPages {
    /// The expected weight of each component against the effectiveness threshold, and the posterior's parameters.
    static func addVariational(_ model: GaussianMixture, to report: inout Report) {
        guard let fit = model.variational else { return }
        let posterior = fit.posterior, weights = model.parameters.weights
        let threshold = VariationalFit.effectiveThreshold(components: posterior.components)
        report.addText(String(
            format: "%d of %d components are effective (expected weight at least %g); %@ weight prior, concentration %g.",
            fit.effectiveComponents, posterior.components, threshold, fit.prior.weightPriorType.rawValue, fit.prior.weightConcentration))
        report.addBarChart(
            id: "weights", title: "Expected weight per component (the dashed line is the effectiveness threshold)",
            xLabel: "component", yLabel: "expected weight", bars: weights.enumerated().map { (String($0.offset), $0.element) },
            threshold: threshold)
        let k = posterior.components
        report.addTable(
            title: "Variational posterior", header: ["component", "weight", "weight concentration", "mean precision", "degrees of freedom", "effective"],
            rows: (0..<k).map { c in
                let concentration = posterior.weightPriorType == .dirichletProcess
                    ? String(format: "%.4g, %.4g", posterior.weightConcentration[c], posterior.weightConcentration[k + c])
                    : String(format: "%.4g", posterior.weightConcentration[c])
                return ["\(c)", String(format: "%.4f", weights[c]), concentration, String(format: "%.4g", posterior.meanPrecision[c]),
                        String(format: "%.4g", posterior.degreesOfFreedom[posterior.covarianceType == .tied ? 0 : c]),
                        weights[c] >= threshold ? "yes" : "no"]
            })
    }
}
