import Foundation
import Logging

/// A value of a JSON log event's field, kept typed on its way through swift-log's metadata (whose
/// values are text), so that numbers stay numbers in the line written.
struct JSONField: CustomStringConvertible, Sendable {
    indirect enum Value: Sendable {
        case integer(Int), number(Double), text(String), boolean(Bool), null
        case list([Value]), object([String: Value])
    }

    let value: Value

    /// The field for a value of an event (`Int`, `Double`, `String`, `Bool`, `NSNull`, arrays and
    /// dictionaries of them; anything else as its description).
    init(_ any: Any) { value = Self.value(any) }

    private static func value(_ any: Any) -> Value {
        switch any {
        case let bool as Bool: .boolean(bool)
        case let int as Int: .integer(int)
        case let int as Int64: .integer(Int(int))
        case let int as UInt64: .integer(Int(clamping: int))
        case let double as Double: .number(double)
        case let float as Float: .number(Double(float))
        case let text as String: .text(text)
        case is NSNull: .null
        case let list as [Any]: .list(list.map(value))
        case let object as [String: Any]: .object(object.mapValues(value))
        default: .text(String(describing: any))
        }
    }

    /// The value as JSONSerialization takes it.
    var foundation: Any { Self.foundation(value) }

    private static func foundation(_ value: Value) -> Any {
        switch value {
        case let .integer(int): int
        case let .number(double): double
        case let .text(text): text
        case let .boolean(bool): bool
        case .null: NSNull()
        case let .list(list): list.map(foundation)
        case let .object(object): object.mapValues(foundation)
        }
    }

    var description: String { "\(foundation)" }
}

/// Where the commands' log records go: swift-log's handler for `--log-format text` (a line
/// `emfleet: MESSAGE` on standard error for people) and `--log-format json` (one JSON object per
/// line on standard output: `event` is the record's message, `time` the seconds since the command
/// started, and every metadata field as a typed JSON value, keys sorted).
struct EventLogHandler: LogHandler {
    let format: LogFormat
    let start: ContinuousClock.Instant
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        switch format {
        case .text:
            FileHandle.standardError.write(Data("emfleet: \(event.message)\n".utf8))
        case .json:
            var object: [String: Any] = ["event": event.message.description, "time": (ContinuousClock.now - start).seconds]
            for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) {
                object[key] = Self.json(value)
            }
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) {
                print(String(decoding: data, as: UTF8.self))
                fflush(nil)
            }
        }
    }

    private static func json(_ value: Logger.MetadataValue) -> Any {
        switch value {
        case let .string(text): text
        case let .stringConvertible(convertible): (convertible as? JSONField)?.foundation ?? convertible.description
        case let .array(list): list.map(json)
        case let .dictionary(object): object.mapValues(json)
        }
    }
}
