import Datasets
import DeepMixture
import Engine
import Foundation
import Mixture
import Testing

/// The model file round-trips every bit and refuses damaged files with one line naming the part;
/// the anomaly evaluation agrees with hand-computed values.
@Suite("DAGMM model file and evaluation")
struct DAGMMModelFileTests {
    static let model: DAGMMModel = {
        let data = SyntheticMixture.generate(samples: 120, features: 4, components: 2, seed: 5).features
        var options = DAGMMOptions(components: 2)
        options.encoder = [4, 1]
        options.estimator = [3]
        options.epochs = 3
        options.batchSize = 60
        var model = try! DAGMMTrainer(runner: LocalShards(data: data, plan: ShardPlan(rows: data.rows, shards: 2), threads: 1), options: options).fit()
        model.featureColumns = ["a", "b", "c", "d"]
        // Seconds are not kept in the file.
        for i in model.history.indices { model.history[i].seconds = 0 }
        return model
    }()

    @Test("a written model reads back equal, and writing it again gives the same bytes")
    func roundTrip() throws {
        let bytes = try DAGMMModelFile.encode(Self.model)
        let read = try DAGMMModelFile.decode(bytes, source: "m.json")
        #expect(read == Self.model)
        #expect(try DAGMMModelFile.encode(read) == bytes)
        let object = try JSONSerialization.jsonObject(with: bytes) as! [String: Any]
        #expect(object["format"] as? String == "emfleet.dagmm")
        #expect(object["version"] as? Int == 1)
        #expect(object["n_features"] as? Int == 4)
    }

    /// The model's JSON with `change` applied to its top-level object.
    static func damaged(_ change: (inout [String: Any]) -> Void) throws -> Data {
        var object = try JSONSerialization.jsonObject(with: DAGMMModelFile.encode(model)) as! [String: Any]
        change(&object)
        return try JSONSerialization.data(withJSONObject: object)
    }

    @Test("damaged files are refused with a message that names the part", arguments: [
        ("format", "not an emfleet.dagmm model"), ("version", "version 2"), ("parameters", "parameters holds"),
        ("mixture", "not positive definite"), ("quantiles", "increasing order"), ("columns", "feature_columns names 1"),
        ("missing", "missing field \"mixture\""), ("standardisation", "standardisation must hold"),
        ("huge", "architecture does not describe"), ("options", "options name other networks"), ("means", "imputation_means must hold"),
    ])
    func refusals(part: String, message: String) throws {
        let data = try Self.damaged { object in
            switch part {
            case "format": object["format"] = "emfleet.kmeans"
            case "version": object["version"] = 2
            case "parameters": object["parameters"] = [1.0, 2.0]
            case "mixture":
                var mixture = object["mixture"] as! [String: Any]
                var covariances = mixture["covariances"] as! [[Double]]
                covariances[0] = covariances[0].map { -abs($0) - 1 }
                mixture["covariances"] = covariances
                object["mixture"] = mixture
            case "quantiles": object["training_energy_quantiles"] = [3.0, 1.0]
            case "columns": object["feature_columns"] = ["a"]
            case "missing": object["mixture"] = nil
            case "standardisation": object["standardisation"] = ["mean": [0.0], "scale": [1.0]]
            case "huge":
                var architecture = object["architecture"] as! [String: Any]
                architecture["encoder"] = [1 << 40, 1]
                object["architecture"] = architecture
            case "options":
                var options = object["options"] as! [String: Any]
                options["encoder"] = [5, 1]
                object["options"] = options
            case "means": object["imputation_means"] = [0.0]
            default: break
            }
        }
        do {
            _ = try DAGMMModelFile.decode(data, source: "m.json")
            Issue.record("\(part): accepted")
        } catch let error as ModelFileError {
            #expect(error.file == "m.json")
            #expect(error.message.contains(message), "\(part): \(error.message)")
        }
    }

    @Test("precision, recall, F1 and average precision as computed by hand")
    func evaluation() throws {
        // Ten rows, three anomalies: the threshold is the 0.7 quantile, 6.3, so rows of score 7, 8, 9 are flagged.
        let scores: [Double] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
        let anomalous = [false, false, false, false, false, true, false, true, false, true]
        let result = try #require(AnomalyEvaluation(scores: scores, anomalous: anomalous))
        #expect(abs(result.threshold - 6.3) < 1e-12)
        #expect(result.flagged == 3 && result.truePositives == 2)
        #expect(abs(result.precision - 2.0 / 3) < 1e-15 && abs(result.recall - 2.0 / 3) < 1e-15 && abs(result.f1 - 2.0 / 3) < 1e-15)
        // Down the ranking: hits at ranks 1, 3, 5: AP = (1/1 + 2/3 + 3/5) / 3, as scikit-learn's average_precision_score gives.
        #expect(abs(result.averagePrecision - (1 + 2.0 / 3 + 0.6) / 3) < 1e-15)
        // Tied scores pass together: two rows tied at the top, one of them anomalous, then the other anomaly.
        let tied = try #require(AnomalyEvaluation(scores: [5, 5, 1, 3], anomalous: [true, false, false, true]))
        #expect(abs(tied.averagePrecision - (0.5 * 0.5 + 0.5 * 2.0 / 3)) < 1e-15)
        #expect(AnomalyEvaluation(scores: [1, 2], anomalous: [false, false]) == nil)
        #expect(AnomalyEvaluation(scores: [1, 2], anomalous: [true, true]) == nil)
    }
}
