import Datasets
import Engine
import Foundation
import Mixture
import Numerics
import Testing

/// A scikit-learn k-means reference fit written by scripts/make_kmeans_fixtures.py.
struct KMeansReference: Decodable {
    var name: String
    var data: String
    var clusters: Int
    var max_iter: Int
    var tol: Double
    var `init`: [[Double]]
    var cluster_centers: [[Double]]
    var labels: [Int]
    var inertia: Double
    var n_iter: Int
    var sample_weight: [Double]?

    static func all() throws -> [KMeansReference] {
        struct File: Decodable { var cases: [KMeansReference] }
        let json = try Data(contentsOf: ReferenceCase.directory.appendingPathComponent("kmeans_cases.json"))
        return try JSONDecoder().decode(File.self, from: json).cases
    }

    func rows() throws -> FeatureMatrix {
        try NPYReader(path: ReferenceCase.directory.appendingPathComponent(data).path).readAll()
    }

    var options: KMeansOptions {
        var options = KMeansOptions(clusters: clusters)
        options.initialCenters = self.`init`
        options.maxIterations = max_iter
        options.tolerance = tol
        return options
    }
}

@Suite("k-means")
struct KMeansTests {
    static func relativeError(_ a: [Double], _ b: [Double]) -> Double {
        let scale = max(b.map(abs).max() ?? 0, 1e-300)
        return zip(a, b).map { abs($0 - $1) }.max()! / scale
    }

    @Test("from the same start, centres, labels, inertia and iterations equal scikit-learn's KMeans(algorithm=\"lloyd\")",
          arguments: try KMeansReference.all())
    func agreesWithScikitLearn(_ reference: KMeansReference) throws {
        let data = try reference.rows()
        let runner = LocalShards(data: data, weights: reference.sample_weight, plan: ShardPlan(rows: data.rows, shards: 3), threads: 2)
        let model = try KMeansFitter(runner: runner, options: reference.options).fit()
        #expect(model.iterations == reference.n_iter, "\(reference.name)")
        #expect(Self.relativeError(model.centers.flatMap { $0 }, reference.cluster_centers.flatMap { $0 }) < 1e-10, "\(reference.name)")
        #expect(abs(model.inertia - reference.inertia) / reference.inertia < 1e-10, "\(reference.name)")
        let labels = try model.assign(on: runner, output: .labels).perRow.map { Int($0) }
        #expect(labels == reference.labels, "\(reference.name)")
    }

    @Test("the fit is the same bits for any thread count and any grouping of shards into blocks")
    func sameBitsForAnyThreads() throws {
        let data = SyntheticMixture.generate(samples: 3000, features: 5, components: 6, seed: 21).features
        var options = KMeansOptions(clusters: 6)
        options.seed = 9
        options.runs = 2
        var models: [KMeansModel] = []
        for threads in [1, 2, 5] {
            let runner = LocalShards(data: data, plan: ShardPlan(rows: data.rows, shards: 7), threads: threads)
            models.append(try KMeansFitter(runner: runner, options: options).fit())
        }
        #expect(models.allSatisfy { $0 == models[0] })
        #expect(try KMeansModelFile.encode(models[0]) == KMeansModelFile.encode(models[2]))
    }

    @Test("a fit resumed from any iteration's checkpoint ends with the bits of an uninterrupted one")
    func resumeIsBitIdentical() throws {
        let data = SyntheticMixture.generate(samples: 2000, features: 4, components: 5, seed: 4).features
        let runner = LocalShards(data: data, plan: ShardPlan(rows: data.rows, shards: 5), threads: 2)
        var options = KMeansOptions(clusters: 5)
        options.initialisation = .random
        options.runs = 3
        options.seed = 2
        var checkpoints: [KMeansCheckpoint] = []
        let whole = try KMeansFitter(runner: runner, options: options).fit(checkpoint: { checkpoints.append($0) })
        #expect(checkpoints.count > 3)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("emfleet-kmeans-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for (i, saved) in checkpoints.enumerated() where i % 2 == 1 {
            let path = directory.appendingPathComponent("\(i).checkpoint").path
            try saved.write(to: path)
            let read = try KMeansCheckpoint.read(from: path)
            #expect(read == saved)
            let resumed = try KMeansFitter(runner: runner, options: options).fit(resuming: read)
            #expect(resumed == whole)
        }
    }

    @Test("an empty cluster takes the row farthest from its centre, whichever shards hold it")
    func emptyClusterRelocation() throws {
        for name in ["iris-empty-cluster", "iris-weights-empty-cluster"] {
        let reference = try KMeansReference.all().first { $0.name == name }!
        let data = try reference.rows()
        var models: [KMeansModel] = []
        for shards in [1, 4, 150] {
            let runner = LocalShards(data: data, weights: reference.sample_weight, plan: ShardPlan(rows: data.rows, shards: shards), threads: 2)
            var relocated = 0
            let model = try KMeansFitter(runner: runner, options: reference.options).fit(progress: { relocated += $0.relocated })
            #expect(relocated >= 1)
            models.append(model)
        }
        for model in models.dropFirst() {
            #expect(Self.relativeError(model.centers.flatMap { $0 }, models[0].centers.flatMap { $0 }) < 1e-12)
            #expect(model.iterations == models[0].iterations)
        }
        }
    }

    /// A fit from given centres with the tolerance at 0 (runs stop when no row changes cluster), so
    /// that the stopping rule does not depend on how rows are counted.
    static func fitFromCentres(_ data: FeatureMatrix, weights: [Double]?, centres: [[Double]], shards: Int) throws -> KMeansModel {
        var options = KMeansOptions(clusters: centres.count)
        options.initialCenters = centres
        options.tolerance = 0
        let runner = LocalShards(data: data, weights: weights, plan: ShardPlan(rows: data.rows, shards: shards), threads: 2)
        return try KMeansFitter(runner: runner, options: options).fit()
    }

    @Test("integer weights give the fit of the data with each row repeated that many times; zero weights, the fit without those rows")
    func weightsAreRepeatedOrRemovedRows() throws {
        let data = SyntheticMixture.generate(samples: 600, features: 3, components: 4, seed: 31).features
        var generator = SeededGenerator(seed: 5)
        let weights = (0..<data.rows).map { _ in Double(generator.nextInt(below: 4)) }
        var repeated: [Double] = [], kept: [Double] = []
        for r in 0..<data.rows {
            let row = (0..<3).map { data[row: r, column: $0] }
            for _ in 0..<Int(weights[r]) { repeated += row }
            if weights[r] > 0 { kept += row }
        }
        let centres = (0..<4).map { c in (0..<3).map { data[row: c * 150 + 1, column: $0] } }
        let weighted = try Self.fitFromCentres(data, weights: weights, centres: centres, shards: 5)
        let copies = try Self.fitFromCentres(FeatureMatrix(rows: repeated.count / 3, columns: 3, values: repeated), weights: nil, centres: centres, shards: 5)
        #expect(weighted.iterations == copies.iterations)
        #expect(Self.relativeError(weighted.centers.flatMap { $0 }, copies.centers.flatMap { $0 }) < 1e-10)
        #expect(abs(weighted.inertia - copies.inertia) / copies.inertia < 1e-10)
        let binary = weights.map { $0 > 0 ? 1.0 : 0.0 }
        let masked = try Self.fitFromCentres(data, weights: binary, centres: centres, shards: 5)
        let removed = try Self.fitFromCentres(FeatureMatrix(rows: kept.count / 3, columns: 3, values: kept), weights: nil, centres: centres, shards: 5)
        #expect(masked.iterations == removed.iterations)
        #expect(Self.relativeError(masked.centers.flatMap { $0 }, removed.centers.flatMap { $0 }) < 1e-10)
        #expect(abs(masked.inertia - removed.inertia) / removed.inertia < 1e-10)
        // Unit weights are no weights, bit for bit.
        let units = try Self.fitFromCentres(data, weights: [Double](repeating: 1, count: data.rows), centres: centres, shards: 5)
        let none = try Self.fitFromCentres(data, weights: nil, centres: centres, shards: 5)
        #expect(units.centers == none.centers && units.inertia == none.inertia)
    }

    @Test("weighted fits are the same bits for any thread count, with k-means++ and random starts drawn by weight")
    func weightedSameBits() throws {
        let data = SyntheticMixture.generate(samples: 2000, features: 4, components: 5, seed: 17).features
        var generator = SeededGenerator(seed: 6)
        let weights = (0..<data.rows).map { _ in generator.nextUniform() * 3 }
        for initialisation in KMeansInitialisation.allCases {
            var options = KMeansOptions(clusters: 5)
            options.initialisation = initialisation
            options.runs = 2
            let models = try [1, 3].map { threads in
                try KMeansFitter(runner: LocalShards(data: data, weights: weights, plan: ShardPlan(rows: data.rows, shards: 6), threads: threads),
                                 options: options).fit()
            }
            #expect(models[0] == models[1])
        }
    }

    @Test("distances are Euclidean to every centre, and the nearest is the label")
    func distancesAndLabels() throws {
        let data = SyntheticMixture.generate(samples: 500, features: 3, components: 3, seed: 8).features
        let runner = LocalShards(data: data, plan: ShardPlan(rows: data.rows, shards: 2), threads: 1)
        let model = try KMeansFitter(runner: runner, options: KMeansOptions(clusters: 3)).fit()
        let distances = try model.assign(on: runner, output: .distances).perRow
        let labels = try model.assign(on: runner, output: .labels).perRow
        var inertia = 0.0
        for r in 0..<data.rows {
            for c in 0..<3 {
                let direct = (0..<3).map { pow(data[row: r, column: $0] - model.centers[c][$0], 2) }.reduce(0, +).squareRoot()
                #expect(abs(distances[r * 3 + c] - direct) < 1e-9 * max(1, direct))
            }
            let row = Array(distances[(r * 3)..<(r * 3 + 3)])
            #expect(Int(labels[r]) == row.firstIndex(of: row.min()!)!)
            inertia += pow(row.min()!, 2)
        }
        #expect(abs(inertia - model.inertia) < 1e-9 * model.inertia)
    }

    @Test("bad options fail before any work, each with one message")
    func badOptions() throws {
        let data = SyntheticMixture.generate(samples: 20, features: 2, components: 2, seed: 1).features
        let runner = LocalShards(data: data, plan: ShardPlan(rows: 20, shards: 2), threads: 1)
        var tooMany = KMeansOptions(clusters: 21)
        tooMany.seed = 1
        var badInit = KMeansOptions(clusters: 2)
        badInit.initialCenters = [[0, 0, 0], [1, 1, 1]]
        var nanInit = KMeansOptions(clusters: 2)
        nanInit.initialCenters = [[0, .nan], [1, 1]]
        for (options, expected) in [(tooMany, "fewer than the 21 clusters"), (badInit, "2 × 3"), (nanInit, "NaN")] {
            #expect { try KMeansFitter(runner: runner, options: options).fit() } throws: { "\($0)".contains(expected) }
        }
    }

    @Test("a k-means model file reads back to the same model, and damaged files are refused with the file's name")
    func modelFileRoundTrip() throws {
        let data = SyntheticMixture.generate(samples: 300, features: 2, components: 3, seed: 3).features
        let runner = LocalShards(data: data, plan: ShardPlan(rows: 300, shards: 2), threads: 1)
        let model = try KMeansFitter(runner: runner, options: KMeansOptions(clusters: 3)).fit()
        let bytes = try KMeansModelFile.encode(model)
        #expect(try KMeansModelFile.decode(bytes, source: "m.json") == model)
        var text = String(decoding: bytes, as: UTF8.self)
        text = text.replacingOccurrences(of: "\"n_clusters\" : 3", with: "\"n_clusters\" : 4")
        #expect { try KMeansModelFile.decode(Data(text.utf8), source: "m.json") } throws: { "\($0)".contains("m.json") && "\($0)".contains("cluster_centers") }
        #expect { try KMeansModelFile.decode(Data("{}".utf8), source: "empty.json") } throws: { "\($0)".contains("empty.json") }
    }
}
