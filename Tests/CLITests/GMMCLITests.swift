import Datasets
import Foundation
import Mixture
import Testing

/// End-to-end tests of `emfleet gmm …` and the root command through the real binary.
@Suite("emfleet gmm (CLI)")
struct GMMCLITests {
    /// Writes a seeded 3-component dataset of `rows` rows and returns its path.
    private func generate(_ scratch: ScratchDirectory, rows: Int = 3000, name: String = "data.npy") throws -> String {
        let path = scratch.path(name)
        let result = try EmfleetBinary.run([
            "data", "generate", "--samples", "\(rows)", "--features", "3", "--components", "3", "--seed", "5", "--out", path,
        ])
        #expect(result.status == 0, "\(result.stderr)")
        return path
    }

    private func bytes(_ path: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: path)) }

    @Test func fitPredictScoreSampleEndToEnd() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generate(scratch)
        let model = scratch.path("model.json")
        let fit = try EmfleetBinary.run(["gmm", "fit", "--data", data, "--components", "3", "--seed", "2", "--out", model])
        #expect(fit.status == 0, "\(fit.stderr)")
        let lines = fit.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first?.hasPrefix("fitting 3 full components to 3000 rows × 3 features") == true)
        #expect(lines.dropFirst().first == FitReportHeader.expected)
        let fitted = try MixtureModelFile.read(from: model)
        // One progress line per iteration, then the summary.
        let iterationLines = lines.filter { $0.hasPrefix("    1 ") }
        #expect(iterationLines.count == fitted.iterations)
        #expect(fit.stdout.contains("converged after \(fitted.iterations) iterations"))

        let predict = try EmfleetBinary.run(["gmm", "predict", "--model", model, "--data", data, "--out", scratch.path("labels.npy")])
        #expect(predict.status == 0, "\(predict.stderr)")
        let labels = try NPYReader(path: scratch.path("labels.npy")).readIntegerLabels()
        let matrix = try DatasetLoader.load(path: data).features
        #expect(labels == (try fitted.predict(matrix)))

        let proba = try EmfleetBinary.run(["gmm", "predict", "--model", model, "--data", data, "--out", scratch.path("p.csv"), "--proba"])
        #expect(proba.status == 0, "\(proba.stderr)")
        let probabilities = try CSVReader.read(path: scratch.path("p.csv"))
        #expect(probabilities.columnNames == ["p_0", "p_1", "p_2"])
        #expect(probabilities.features.doubles() == (try fitted.predictProbabilities(matrix)))

        let score = try EmfleetBinary.run(["gmm", "score", "--model", model, "--data", data, "--json"])
        #expect(score.status == 0, "\(score.stderr)")
        let report = try JSONSerialization.jsonObject(with: Data(score.stdout.utf8)) as? [String: Any]
        let mean = try #require(report?["mean_log_likelihood"] as? Double)
        let bic = try #require(report?["bic"] as? Double)
        let expectedMean = try fitted.score(matrix), expectedBIC = try fitted.bic(matrix)
        #expect(abs(mean - expectedMean) <= 1e-12 * abs(expectedMean))
        #expect(abs(bic - expectedBIC) <= 1e-9 * abs(expectedBIC))
        #expect(report?["rows"] as? Int == 3000)

        let sample = try EmfleetBinary.run(["gmm", "sample", "--model", model, "--count", "500", "--seed", "3",
                                            "--out", scratch.path("s.npy"), "--labels", scratch.path("sl.npy")])
        #expect(sample.status == 0, "\(sample.stderr)")
        let drawn = try NPYReader(path: scratch.path("s.npy"))
        #expect(drawn.rows == 500 && drawn.columns == 3)
        #expect(try NPYReader(path: scratch.path("sl.npy")).readIntegerLabels().allSatisfy { (0..<3).contains($0) })
    }

    @Test(arguments: ["full", "tied", "diag", "spherical"])
    func threadCountNeverChangesTheModelFile(covariance: String) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generate(scratch, rows: 40_000)
        let common = ["gmm", "fit", "--data", data, "--components", "4", "--covariance", covariance, "--seed", "9", "--quiet"]
        let one = try EmfleetBinary.run(common + ["--threads", "1", "--out", scratch.path("one.json")])
        let two = try EmfleetBinary.run(common + ["--threads", "2", "--out", scratch.path("two.json")])
        #expect(one.status == 0 && two.status == 0, "\(one.stderr)\(two.stderr)")
        #expect(try bytes(scratch.path("one.json")) == (try bytes(scratch.path("two.json"))))
    }

    @Test func initModelContinuesEMExactly() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generate(scratch)
        let common = ["gmm", "fit", "--data", data, "--components", "3", "--tol", "0", "--seed", "4", "--quiet"]
        let straight = try EmfleetBinary.run(common + ["--max-iter", "5", "--out", scratch.path("five.json")])
        let first = try EmfleetBinary.run(common + ["--max-iter", "2", "--out", scratch.path("two.json")])
        let rest = try EmfleetBinary.run(common + ["--max-iter", "3", "--init-model", scratch.path("two.json"), "--out", scratch.path("then3.json")])
        #expect(straight.status == 0 && first.status == 0 && rest.status == 0, "\(straight.stderr)\(first.stderr)\(rest.stderr)")
        let five = try MixtureModelFile.read(from: scratch.path("five.json"))
        let continued = try MixtureModelFile.read(from: scratch.path("then3.json"))
        // EM's next step depends only on the current parameters, so 2 + 3 iterations equal 5.
        #expect(continued.parameters == five.parameters)
        #expect(continued.logLikelihoodHistory == Array(five.logLikelihoodHistory.suffix(3)))
    }

    @Test func initModelWithAnotherShapeIsRefused() throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generate(scratch)
        let first = try EmfleetBinary.run(["gmm", "fit", "--data", data, "--components", "3", "--quiet", "--out", scratch.path("m.json")])
        #expect(first.status == 0, "\(first.stderr)")
        let result = try EmfleetBinary.run(["gmm", "fit", "--data", data, "--components", "2", "--init-model", scratch.path("m.json"),
                                            "--out", scratch.path("o.json")])
        #expect(result.status == 1)
        #expect(result.stderr.hasPrefix("emfleet: error: ") && result.stderr.split(separator: "\n").count == 1)
        #expect(result.stderr.contains("\(scratch.path("m.json")): has 3 components (full) over 3 features"), "\(result.stderr)")
    }

    /// Each bad input gives exactly one `emfleet: error:` line naming the problem, status 1, and no output file.
    @Test(arguments: BadInput.allCases)
    func badInputGivesOneClearErrorLine(_ bad: BadInput) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generate(scratch, rows: 200)
        let model = scratch.path("model.json")
        #expect(try EmfleetBinary.run(["gmm", "fit", "--data", data, "--components", "2", "--quiet", "--out", model]).status == 0)
        let out = scratch.path("out.npy")
        let (arguments, expected) = try bad.case(scratch: scratch, data: data, model: model, out: out)
        let result = try EmfleetBinary.run(arguments)
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("emfleet: error: "))
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    enum BadInput: String, CaseIterable, CustomTestStringConvertible {
        case missingData, fewerRowsThanComponents, nanInData, truncatedModel, modelOfAnotherKind, featureCountMismatch

        var testDescription: String { rawValue }

        func `case`(scratch: ScratchDirectory, data: String, model: String, out: String) throws -> ([String], String) {
            switch self {
            case .missingData:
                let missing = scratch.path("absent.npy")
                return (["gmm", "fit", "--data", missing, "--components", "2", "--out", out], "\(missing): no such file")
            case .fewerRowsThanComponents:
                let small = scratch.path("small.csv")
                try "a,b\n1,2\n3,4\n5,7\n".write(toFile: small, atomically: true, encoding: .utf8)
                return (["gmm", "fit", "--data", small, "--components", "4", "--out", out], "3 rows")
            case .nanInData:
                let withNaN = scratch.path("nan.csv")
                // Lines count as an editor counts them: the header and the blank line too.
                try "a,b\n1,2\n\n3,nan\n5,7\n".write(toFile: withNaN, atomically: true, encoding: .utf8)
                return (["gmm", "fit", "--data", withNaN, "--components", "1", "--out", out], "\(withNaN): line 4, column 2 (\"b\"): missing value (NaN)")
            case .truncatedModel:
                let text = try String(contentsOfFile: model, encoding: .utf8)
                let cut = scratch.path("cut.json")
                try String(text.prefix(text.count / 2)).write(toFile: cut, atomically: true, encoding: .utf8)
                return (["gmm", "predict", "--model", cut, "--data", data, "--out", out], cut)
            case .modelOfAnotherKind:
                let other = scratch.path("other.json")
                try #"{"format": "something.else", "version": 1}"#.write(toFile: other, atomically: true, encoding: .utf8)
                return (["gmm", "score", "--model", other, "--data", data], other)
            case .featureCountMismatch:
                let wide = scratch.path("wide.csv")
                try "a,b,c,d\n1,2,3,4\n5,6,7,8\n".write(toFile: wide, atomically: true, encoding: .utf8)
                return (["gmm", "predict", "--model", model, "--data", wide, "--out", out], "4 features")
            }
        }
    }

    @Test(arguments: [[], ["--workers", "2"]])
    func selectKeepsTheBestAndEachFitEqualsAFitAlone(cluster: [String]) throws {
        let scratch = try ScratchDirectory()
        defer { scratch.cleanUp() }
        let data = try generate(scratch, rows: 6000)
        let select = try EmfleetBinary.run(["gmm", "select", "--data", data, "--components", "1...5", "--covariance", "full,diag",
                                            "--seed", "4", "--out", scratch.path("best.json"), "--table", scratch.path("t.json")] + cluster)
        #expect(select.status == 0, "\(select.stderr)")
        let table = try JSONSerialization.jsonObject(with: try bytes(scratch.path("t.json"))) as? [[String: Any]] ?? []
        #expect(table.count == 10)
        let best = try #require(table.min { ($0["bic"] as? Double ?? .infinity) < ($1["bic"] as? Double ?? .infinity) })
        let k = try #require(best["components"] as? Int), covariance = try #require(best["covariance"] as? String)
        #expect(select.stdout.contains("best by BIC: \(k) \(covariance) components"))
        // The chosen model is the one `gmm fit` gives alone, byte for byte, with select's default
        // of 4 starts per candidate, and BIC is `gmm score`'s.
        let alone = try EmfleetBinary.run(["gmm", "fit", "--data", data, "--components", "\(k)", "--covariance", covariance,
                                           "--seed", "4", "--n-init", "4", "--quiet", "--out", scratch.path("alone.json")])
        #expect(alone.status == 0, "\(alone.stderr)")
        #expect(try bytes(scratch.path("best.json")) == (try bytes(scratch.path("alone.json"))))
        let score = try EmfleetBinary.run(["gmm", "score", "--model", scratch.path("alone.json"), "--data", data, "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(score.stdout.utf8)) as? [String: Any]
        #expect(report?["bic"] as? Double == best["bic"] as? Double)
    }

    @Test func usageErrorsNameTheOption() throws {
        for arguments in [
            ["gmm", "fit", "--data", "x.npy", "--components", "0", "--out", "m.json"],
            ["gmm", "fit", "--data", "x.npy", "--components", "2", "--covariance", "round", "--out", "m.json"],
            ["gmm", "fit", "--data", "x.npy", "--components", "2", "--tol", "-1", "--out", "m.json"],
        ] {
            let result = try EmfleetBinary.run(arguments)
            #expect(result.status == 64, "\(arguments) \(result.stderr)")
            #expect(result.stderr.contains("Error:"))
        }
    }

    @Test func versionAndDemo() throws {
        let version = try EmfleetBinary.run(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout.hasPrefix("emfleet "))
        let demo = try EmfleetBinary.run(["demo", "--samples", "5000", "--components", "3", "--features", "2"])
        #expect(demo.status == 0, "\(demo.stderr)")
        #expect(demo.stdout.contains("converged after"))
        #expect(demo.stdout.contains("component  2"))
    }
}

/// The column titles `gmm fit` prints, spelled out so a change to them is noticed.
enum FitReportHeader {
    static let expected = "start  iter    mean log-likelihood       change   seconds"
}
