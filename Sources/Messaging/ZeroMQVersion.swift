import CZeroMQ

/// Facts about the libzmq this binary is linked against.
public enum ZeroMQLibrary {
    /// The linked libzmq version as "major.minor.patch".
    public static var version: String {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }
}
