import Foundation

/// How the learning rate changes from epoch to epoch.
///
/// Written on the command line as `constant`, `step:EVERY:FACTOR` or `cosine[:MINIMUM]`
/// (see `parse(_:totalEpochs:)`); encoded as `{"type": "step", "every_epochs": 10, "factor": 0.5}`.
public enum LearningRateSchedule: Codable, Equatable, Sendable, CustomStringConvertible {
    /// The base rate throughout.
    case constant
    /// The base rate times `factor` raised to the number of completed `everyEpochs`-epoch periods.
    case step(everyEpochs: Int, factor: Double)
    /// Cosine annealing from the base rate at epoch 0 to `minimum × base` at epoch
    /// `totalEpochs` (and after).
    case cosine(totalEpochs: Int, minimum: Double)

    /// The learning rate for 0-based `epoch`.
    ///
    /// - Parameters:
    ///   - base: The initial learning rate.
    ///   - epoch: The epoch, counted from 0.
    /// - Returns: `constant`: `base`; `step`: `base · factor^⌊epoch / everyEpochs⌋`; `cosine`:
    ///   `lo + (base − lo)·(1 + cos(π·min(epoch, T)/T))/2` with `lo = minimum·base`.
    public func rate(base: Double, epoch: Int) -> Double {
        switch self {
        case .constant:
            return base
        case let .step(everyEpochs, factor):
            return base * pow(factor, Double(max(0, epoch) / max(1, everyEpochs)))
        case let .cosine(totalEpochs, minimum):
            let lowest = minimum * base
            guard totalEpochs > 0 else { return base }
            let progress = Double(min(max(0, epoch), totalEpochs)) / Double(totalEpochs)
            return lowest + (base - lowest) * (1 + cos(Double.pi * progress)) / 2
        }
    }

    /// Parses `constant`, `step:EVERY:FACTOR` or `cosine` / `cosine:MINIMUM`.
    ///
    /// - Parameters:
    ///   - text: The schedule as written on the command line, for example `step:10:0.5`.
    ///   - totalEpochs: The run's epochs, the length of a cosine schedule.
    /// - Throws: `LearningRateScheduleError` with a one-line message for anything else.
    public static func parse(_ text: String, totalEpochs: Int) throws -> LearningRateSchedule {
        let parts = text.trimmingCharacters(in: .whitespaces).split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        func fail(_ reason: String) -> LearningRateScheduleError { LearningRateScheduleError(text: text, reason: reason) }
        switch parts[0] {
        case "constant":
            guard parts.count == 1 else { throw fail("constant takes no arguments") }
            return .constant
        case "step":
            guard parts.count == 3 else { throw fail("expected step:EVERY:FACTOR, for example step:10:0.5") }
            guard let every = Int(parts[1]), every >= 1 else {
                throw fail("EVERY must be a whole number of epochs of at least 1, got \"\(parts[1])\"")
            }
            guard let factor = Double(parts[2]), factor.isFinite, factor > 0 else {
                throw fail("FACTOR must be a positive number, got \"\(parts[2])\"")
            }
            return .step(everyEpochs: every, factor: factor)
        case "cosine":
            guard parts.count <= 2 else { throw fail("expected cosine or cosine:MINIMUM, for example cosine:0.01") }
            guard totalEpochs >= 1 else { throw fail("a cosine schedule needs at least 1 epoch, got \(totalEpochs)") }
            var minimum = 0.0
            if parts.count == 2 {
                guard let value = Double(parts[1]), value >= 0, value <= 1 else {
                    throw fail("MINIMUM is a fraction of the base rate in [0, 1], got \"\(parts[1])\"")
                }
                minimum = value
            }
            return .cosine(totalEpochs: totalEpochs, minimum: minimum)
        default:
            throw fail("expected constant, step:EVERY:FACTOR or cosine[:MINIMUM]")
        }
    }

    /// The command-line form (`constant`, `step:10:0.5`, `cosine:0.01`); a cosine schedule's
    /// length is not part of it.
    public var description: String {
        switch self {
        case .constant: "constant"
        case let .step(everyEpochs, factor): "step:\(everyEpochs):\(factor)"
        case let .cosine(_, minimum): minimum == 0 ? "cosine" : "cosine:\(minimum)"
        }
    }

    private enum CodingKeys: String, CodingKey {
        case type
        case everyEpochs = "every_epochs"
        case factor
        case totalEpochs = "total_epochs"
        case minimum
    }

    /// Decodes `{"type": "constant"}`, `{"type": "step", "every_epochs", "factor"}` or
    /// `{"type": "cosine", "total_epochs", "minimum"}`.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "constant":
            self = .constant
        case "step":
            self = .step(everyEpochs: try container.decode(Int.self, forKey: .everyEpochs),
                         factor: try container.decode(Double.self, forKey: .factor))
        case "cosine":
            self = .cosine(totalEpochs: try container.decode(Int.self, forKey: .totalEpochs),
                           minimum: try container.decode(Double.self, forKey: .minimum))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container, debugDescription: "unknown schedule \"\(type)\", expected constant, step or cosine")
        }
    }

    /// Encodes the schedule with a `type` field and its parameters.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch self {
        case .constant:
            try container.encode("constant", forKey: .type)
        case let .step(everyEpochs, factor):
            try container.encode("step", forKey: .type)
            try container.encode(everyEpochs, forKey: .everyEpochs)
            try container.encode(factor, forKey: .factor)
        case let .cosine(totalEpochs, minimum):
            try container.encode("cosine", forKey: .type)
            try container.encode(totalEpochs, forKey: .totalEpochs)
            try container.encode(minimum, forKey: .minimum)
        }
    }
}

/// A learning-rate schedule that could not be parsed: the text and what is wrong with it.
public struct LearningRateScheduleError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The text as given.
    public var text: String
    /// What is wrong, and the expected form.
    public var reason: String

    /// Creates an error for `text`.
    public init(text: String, reason: String) {
        self.text = text
        self.reason = reason
    }

    /// One line: `learning-rate schedule "…": reason`.
    public var description: String { "learning-rate schedule \"\(text)\": \(reason)" }
}
