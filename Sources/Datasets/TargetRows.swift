/// The targets of some rows: class indices or numbers.
public enum TargetRows: Sendable, Equatable {
    /// Class indices.
    case classes([Int])
    /// Numeric targets.
    case values([Double])

    /// Number of rows.
    public var count: Int {
        switch self {
        case let .classes(values): values.count
        case let .values(values): values.count
        }
    }

    /// The targets of positions `range`.
    public func slice(_ range: Range<Int>) -> TargetRows {
        switch self {
        case let .classes(all): .classes(Array(all[range]))
        case let .values(all): .values(Array(all[range]))
        }
    }
}
