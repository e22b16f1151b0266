import Datasets
import Mixture
import Numerics

// 600 rows around three centres in the plane, seeded: the mixture should find the centres.
let centres: [[Double]] = [[-4, 0], [0, 3], [5, -1]]
var generator = SeededGenerator(seed: 11)
var values: [Double] = []
for row in 0..<600 {
    let centre = centres[row % centres.count]
    values += [centre[0] + 0.5 * generator.nextNormal(), centre[1] + 0.5 * generator.nextNormal()]
}
let data = FeatureMatrix(rows: 600, columns: 2, values: values)

var options = FitOptions(components: 3)
options.covarianceType = .diag
options.seed = 7
let model = try GaussianMixture.fit(data, options: options, threads: 1)

let parameters = model.parameters
print("fitted \(parameters.components) components on \(data.rows) rows in \(model.iterations) iterations, "
      + "converged: \(model.converged), mean log-likelihood \(model.lowerBound)")
// Components in the order of their first mean, so the output does not depend on the labelling.
for c in (0..<parameters.components).sorted(by: { parameters.means[$0 * 2] < parameters.means[$1 * 2] }) {
    let mean = parameters.means[(c * 2)..<(c * 2 + 2)].map { ($0 * 100).rounded() / 100 }
    print("component weight \((parameters.weights[c] * 1000).rounded() / 1000) mean \(mean)")
}
let labels = try model.predict(data, threads: 1)
print("rows per component: \((0..<parameters.components).map { c in labels.filter { $0 == c }.count })")
