import Foundation

/// Tells which emfleet format a file is in, before a reader of one format fails on another.
///
/// Every file emfleet writes names its format: a checkpoint in its binary header
/// (``CheckpointFile``), a model or an older JSON checkpoint in its top-level `format` field.
/// A command handed the wrong kind of file can then say what the file is and who reads it,
/// instead of the first field its own decoder misses.
public enum EmfleetFileFormat {
    /// The format name of the file at `path` (`"emfleet.mlp"`, `"emfleet.kmeans.checkpoint"`),
    /// or `nil` when it cannot be read or names no format.
    public static func name(ofFileAt path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let bytes = [UInt8](data)
        if CheckpointFile.isCheckpoint(bytes) {
            var header = WireReader(bytes, context: path)
            for _ in CheckpointFile.magic { _ = try? header.u8("magic") }
            return try? header.string("format", maxBytes: 256)
        }
        guard bytes.first(where: { ![0x20, 0x0A, 0x0D, 0x09].contains($0) }) == UInt8(ascii: "{"),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object["format"] as? String
    }
}
