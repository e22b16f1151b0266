/// emfleet's version: printed by `--version` and `emfleet info`, and reported by workers in their hello.
public enum EmfleetVersion {
    /// The version string.
    public static let string = "0.3.0"
}
