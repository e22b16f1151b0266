import Foundation

/// Names the first setting in which a checkpoint's options differ from a job's, so that a
/// refused resume says which option to change instead of "other options".
public enum OptionDifference {
    /// The first field (by its coding key, in sorted order) whose value differs between
    /// `saved` and `current`, as "`field` was X in the checkpoint, Y now"; `nil` when their
    /// encodings agree.
    public static func first<Options: Encodable>(saved: Options, current: Options) -> String? {
        guard let old = fields(saved), let new = fields(current) else { return nil }
        for key in Set(old.keys).union(new.keys).sorted() where old[key] != new[key] {
            return "\(key) was \(old[key] ?? "unset") in the checkpoint, \(new[key] ?? "unset") now"
        }
        return nil
    }

    /// Each top-level field's JSON text.
    private static func fields<Options: Encodable>(_ options: Options) -> [String: String]? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(options),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        var texts: [String: String] = [:]
        for (key, value) in object {
            if let bytes = try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys, .fragmentsAllowed]) {
                texts[key] = String(decoding: bytes, as: UTF8.self)
            }
        }
        return texts
    }
}
