/// How well anomaly scores (higher is more anomalous) find labelled anomalies.
///
/// As the DAGMM paper evaluates: the threshold is the score's quantile at one minus the labelled
/// anomaly fraction, so that as many rows are flagged as there are anomalies; a row is flagged
/// when its score is above the threshold. The area under the precision-recall curve is the
/// average precision as scikit-learn's `average_precision_score` computes it:
/// Σ (R_n − R_{n−1}) P_n over the distinct scores from the highest down.
public struct AnomalyEvaluation: Equatable, Sendable {
    /// Rows scored.
    public var rows: Int
    /// Rows labelled anomalous.
    public var anomalies: Int
    /// The score above which rows are flagged.
    public var threshold: Double
    /// Rows flagged.
    public var flagged: Int
    /// Flagged rows that are anomalies.
    public var truePositives: Int
    /// truePositives / flagged (0 when nothing is flagged).
    public var precision: Double
    /// truePositives / anomalies.
    public var recall: Double
    /// The harmonic mean of precision and recall (0 when both are 0).
    public var f1: Double
    /// The area under the precision-recall curve (average precision).
    public var averagePrecision: Double

    /// Evaluates `scores` against `anomalous` (one flag per row); nil when there are no rows,
    /// no anomalies or only anomalies.
    public init?(scores: [Double], anomalous: [Bool]) {
        precondition(scores.count == anomalous.count, "one label per score")
        let positives = anomalous.filter { $0 }.count
        guard !scores.isEmpty, positives > 0, positives < scores.count else { return nil }
        rows = scores.count
        anomalies = positives
        threshold = Self.quantile(scores, 1 - Double(positives) / Double(scores.count))
        var flagged = 0, hits = 0
        for (score, label) in zip(scores, anomalous) where score > threshold {
            flagged += 1
            if label { hits += 1 }
        }
        self.flagged = flagged
        truePositives = hits
        precision = flagged > 0 ? Double(hits) / Double(flagged) : 0
        recall = Double(hits) / Double(positives)
        f1 = precision + recall > 0 ? 2 * precision * recall / (precision + recall) : 0
        averagePrecision = Self.averagePrecision(scores: scores, anomalous: anomalous, positives: positives)
    }

    /// `values`' quantile `q` by linear interpolation (numpy's default); NaN when there are none.
    public static func quantile(_ values: [Double], _ q: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        let position = min(max(q, 0), 1) * Double(sorted.count - 1)
        let below = Int(position.rounded(.down)), above = min(below + 1, sorted.count - 1)
        return sorted[below] + (position - Double(below)) * (sorted[above] - sorted[below])
    }

    private static func averagePrecision(scores: [Double], anomalous: [Bool], positives: Int) -> Double {
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var area = 0.0, hits = 0, seen = 0, previousRecall = 0.0
        var i = 0
        while i < order.count {
            // Rows of equal score pass the threshold together: one point of the curve.
            let score = scores[order[i]]
            while i < order.count, scores[order[i]] == score {
                seen += 1
                if anomalous[order[i]] { hits += 1 }
                i += 1
            }
            let recall = Double(hits) / Double(positives)
            area += (recall - previousRecall) * Double(hits) / Double(seen)
            previousRecall = recall
        }
        return area
    }
}
