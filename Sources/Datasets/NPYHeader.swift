/// The element type of an `.npy` array that this package can read.
public enum NPYElementType: Sendable, Equatable {
    /// Little-endian IEEE 754 single precision, `'<f4'`.
    case float32
    /// Little-endian IEEE 754 double precision, `'<f8'`.
    case float64
    /// A little-endian integer of `bytes` bytes (1, 2, 4 or 8).
    case integer(bytes: Int, signed: Bool)

    /// Bytes per element.
    public var byteWidth: Int {
        switch self {
        case .float32: 4
        case .float64: 8
        case .integer(let bytes, _): bytes
        }
    }

    /// The numpy name of the type, such as `float64` or `uint8`.
    public var name: String {
        switch self {
        case .float32: "float32"
        case .float64: "float64"
        case .integer(let bytes, let signed): "\(signed ? "int" : "uint")\(bytes * 8)"
        }
    }

    /// The feature precision, or `nil` for integer arrays.
    public var scalarType: ScalarType? {
        switch self {
        case .float32: .float32
        case .float64: .float64
        case .integer: nil
        }
    }
}

/// The parsed, validated header of an `.npy` file.
struct NPYHeader: Equatable {
    var majorVersion: Int
    var descr: String
    var elementType: NPYElementType
    var shape: [Int]
    /// Byte offset of the first element.
    var dataOffset: Int
    /// Bytes of element data the header declares.
    var dataBytes: Int

    /// The largest header accepted; numpy's own default limit is 10,000 bytes.
    static let maximumHeaderBytes = 1 << 20
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // "\x93NUMPY"

    /// Reads and validates the header of `file`, whose size is `fileSize`.
    static func read(from file: ReadableFile, fileSize: Int) throws -> NPYHeader {
        let path = file.path
        func fail(_ message: String) -> DatasetError { DatasetError(file: path, message: message) }

        var prefix = [UInt8](repeating: 0, count: 12)
        let got = try prefix.withUnsafeMutableBytes { try file.read(into: $0, at: 0) }
        guard got >= 6, Array(prefix[0..<6]) == magic else {
            throw fail(got == 0 ? "is empty, expected an .npy file" : "is not an .npy file: it does not start with \"\\x93NUMPY\"")
        }
        guard got >= 10 else { throw fail("truncated: the file ends inside the .npy preamble") }
        let major = Int(prefix[6]), minor = Int(prefix[7])
        let headerLength: Int
        let headerStart: Int
        switch (major, minor) {
        case (1, 0):
            headerLength = Int(prefix[8]) | Int(prefix[9]) << 8
            headerStart = 10
        case (2, 0), (3, 0):
            guard got >= 12 else { throw fail("truncated: the file ends inside the .npy preamble") }
            headerLength = Int(prefix[8]) | Int(prefix[9]) << 8 | Int(prefix[10]) << 16 | Int(prefix[11]) << 24
            headerStart = 12
        default:
            throw fail("unsupported .npy format version \(major).\(minor); supported versions are 1.0, 2.0 and 3.0")
        }
        guard headerLength <= maximumHeaderBytes else {
            throw fail("malformed header: it claims \(headerLength) bytes, over the \(maximumHeaderBytes)-byte limit; the file is probably corrupt")
        }
        guard headerStart + headerLength <= fileSize else {
            throw fail("truncated: the header claims \(headerLength) bytes but only \(fileSize - headerStart) follow the preamble")
        }
        var headerBytes = [UInt8](repeating: 0, count: headerLength)
        try headerBytes.withUnsafeMutableBytes { try file.readExactly(into: $0, at: headerStart) }

        let dictionary: [(key: String, value: PythonLiteral)]
        do {
            var parser = PythonLiteralParser(bytes: headerBytes, utf8: major >= 3)
            guard case .dictionary(let entries) = try parser.parseDocument() else {
                throw PythonLiteralParser.Failure(message: "the header is not a dictionary")
            }
            dictionary = entries
        } catch let failure as PythonLiteralParser.Failure {
            throw fail("malformed header: \(failure.message)")
        }

        var descrValue: PythonLiteral?, fortranValue: PythonLiteral?, shapeValue: PythonLiteral?
        for (key, value) in dictionary {
            switch key {
            case "descr": descrValue = value
            case "fortran_order": fortranValue = value
            case "shape": shapeValue = value
            default: throw fail("malformed header: unexpected key '\(key)'; expected exactly 'descr', 'fortran_order' and 'shape'")
            }
        }
        guard let descrValue else { throw fail("malformed header: missing 'descr'") }
        guard let fortranValue else { throw fail("malformed header: missing 'fortran_order'") }
        guard let shapeValue else { throw fail("malformed header: missing 'shape'") }

        guard case .bool(let fortranOrder) = fortranValue else {
            throw fail("malformed header: 'fortran_order' must be True or False")
        }
        guard case .tuple(let dimensions) = shapeValue else {
            throw fail("malformed header: 'shape' must be a tuple of integers")
        }
        var shape: [Int] = []
        for dimension in dimensions {
            guard case .integer(let size) = dimension, size >= 0 else {
                throw fail("malformed header: 'shape' must be a tuple of non-negative integers")
            }
            shape.append(size)
        }
        let descr: String
        switch descrValue {
        case .string(let text): descr = text
        case .list:
            throw fail("structured dtypes (record arrays) are not supported; save a plain 2-D float array")
        default:
            throw fail("malformed header: 'descr' must be a string such as '<f8'")
        }
        let elementType = try parseDescr(descr, path: path)
        if fortranOrder {
            throw fail("Fortran order is not supported; save with np.ascontiguousarray")
        }
        let shapeText = describeShape(shape)
        switch shape.count {
        case 0:
            throw fail("is a 0-D (scalar) array; expected a 2-D array (rows, columns) of features or a 1-D array of labels")
        case 1, 2:
            break
        default:
            throw fail("has \(shape.count) dimensions, shape \(shapeText); expected a 2-D array (rows, columns) of features or a 1-D array of labels")
        }

        var elements = 1
        for size in shape {
            let (product, overflow) = elements.multipliedReportingOverflow(by: size)
            guard !overflow else { throw fail("malformed header: shape \(shapeText) is too large") }
            elements = product
        }
        let (dataBytes, overflow) = elements.multipliedReportingOverflow(by: elementType.byteWidth)
        let dataOffset = headerStart + headerLength
        guard !overflow, dataBytes <= Int.max - dataOffset else { throw fail("malformed header: shape \(shapeText) is too large") }
        let available = fileSize - dataOffset
        guard dataBytes <= available else {
            let what = shape.count == 2
                ? "\(shape[0]) rows of \(shape[1]) \(elementType.name)"
                : "\(shape[0]) \(elementType.name) values"
            throw fail("truncated: header says \(what) (\(dataBytes) bytes) but \(available) bytes follow the header")
        }
        return NPYHeader(
            majorVersion: major, descr: descr, elementType: elementType,
            shape: shape, dataOffset: dataOffset, dataBytes: dataBytes
        )
    }

    /// Maps a numpy descr such as `'<f8'` to a supported element type, or throws naming it.
    static func parseDescr(_ descr: String, path: String) throws -> NPYElementType {
        let characters = Array(descr)
        let supported = "supported: '<f4' and '<f8' for features, 1-D integer arrays ('<i8', '|u1', ...) for labels"
        guard characters.count >= 3, "<>|=".contains(characters[0]), let size = Int(String(characters[2...])) else {
            throw DatasetError(file: path, message: "unsupported dtype '\(descr)'; \(supported)")
        }
        let order = characters[0], kind = characters[1]
        let kindName: String
        switch kind {
        case "f": kindName = "float\(size * 8)"
        case "i": kindName = "int\(size * 8)"
        case "u": kindName = "uint\(size * 8)"
        case "c": kindName = "complex"
        case "b": kindName = "bool"
        case "U", "S", "a": kindName = "string"
        case "O": kindName = "Python objects"
        case "M", "m": kindName = "datetime"
        case "V": kindName = "raw bytes"
        default: kindName = "unknown kind '\(kind)'"
        }
        if (kind == "f" || kind == "i" || kind == "u") && size > 1 && order == ">" {
            throw DatasetError(
                file: path,
                message: "big-endian dtype '\(descr)' (\(kindName)) is not supported; convert with x.astype('<\(kind)\(size)')"
            )
        }
        let littleEndian = order == "<" || (size == 1 && order != "=")
        switch (kind, size) {
        case ("f", 4) where littleEndian: return .float32
        case ("f", 8) where littleEndian: return .float64
        case ("i", 1), ("u", 1): return .integer(bytes: 1, signed: kind == "i")
        case ("i", 2), ("i", 4), ("i", 8), ("u", 2), ("u", 4), ("u", 8):
            if littleEndian { return .integer(bytes: size, signed: kind == "i") }
        default:
            break
        }
        throw DatasetError(file: path, message: "unsupported dtype '\(descr)' (\(kindName)); \(supported)")
    }

    /// A shape as numpy prints it: `(3,)`, `(3, 4)`.
    static func describeShape(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }

    /// The header text for `descr` and `shape`, byte for byte as numpy writes it, with
    /// the preamble: version 1.0, padded with spaces and a newline to a multiple of 64 bytes.
    static func encode(descr: String, shape: [Int]) -> [UInt8] {
        var text = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(describeShape(shape)), }"
        // numpy leaves room to grow the first axis in place (GROWTH_AXIS_MAX_DIGITS = 21).
        if let first = shape.first { text += String(repeating: " ", count: max(0, 21 - String(first).utf8.count)) }
        let unpadded = magic.count + 4 + text.utf8.count + 1
        let padding = 64 - unpadded % 64  // like numpy: a full 64 when already aligned
        text += String(repeating: " ", count: padding) + "\n"
        let length = text.utf8.count
        return magic + [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)] + Array(text.utf8)
    }
}

/// A value of the small Python literal language used by `.npy` headers.
enum PythonLiteral: Equatable {
    case string(String)
    case integer(Int)
    case bool(Bool)
    case none
    case tuple([PythonLiteral])
    case list([PythonLiteral])
    case dictionary([(key: String, value: PythonLiteral)])

    static func == (lhs: PythonLiteral, rhs: PythonLiteral) -> Bool {
        switch (lhs, rhs) {
        case (.string(let a), .string(let b)): a == b
        case (.integer(let a), .integer(let b)): a == b
        case (.bool(let a), .bool(let b)): a == b
        case (.none, .none): true
        case (.tuple(let a), .tuple(let b)), (.list(let a), .list(let b)): a == b
        case (.dictionary(let a), .dictionary(let b)): a.map(\.key) == b.map(\.key) && a.map(\.value) == b.map(\.value)
        default: false
        }
    }
}

/// A strict parser for Python literals: strings, integers, True/False/None, tuples, lists and dictionaries with string keys.
struct PythonLiteralParser {
    struct Failure: Error { var message: String }

    private let bytes: [UInt8]
    private let utf8: Bool
    private var position = 0
    private var depth = 0

    /// - Parameter utf8: decode strings as UTF-8 (format 3.0) rather than Latin-1.
    init(bytes: [UInt8], utf8: Bool) {
        self.bytes = bytes
        self.utf8 = utf8
    }

    /// Parses one literal followed by nothing but whitespace.
    mutating func parseDocument() throws -> PythonLiteral {
        let value = try parseValue()
        skipWhitespace()
        guard position == bytes.count else { throw Failure(message: "unexpected text after the dictionary at byte \(position)") }
        return value
    }

    private mutating func skipWhitespace() {
        while position < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[position]) { position += 1 }
    }

    private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func expect(_ byte: UInt8) throws {
        skipWhitespace()
        guard peek() == byte else { throw Failure(message: "expected '\(Character(Unicode.Scalar(byte)))' at byte \(position)") }
        position += 1
    }

    private mutating func parseValue() throws -> PythonLiteral {
        skipWhitespace()
        guard let byte = peek() else { throw Failure(message: "unexpected end of header") }
        switch byte {
        case UInt8(ascii: "'"), UInt8(ascii: "\""):
            return .string(try parseString())
        case UInt8(ascii: "("):
            return .tuple(try parseSequence(closing: UInt8(ascii: ")")))
        case UInt8(ascii: "["):
            return .list(try parseSequence(closing: UInt8(ascii: "]")))
        case UInt8(ascii: "{"):
            return try parseDictionary()
        case UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return .integer(try parseInteger())
        default:
            for (word, value) in [("True", PythonLiteral.bool(true)), ("False", .bool(false)), ("None", .none)] {
                let wordBytes = Array(word.utf8)
                if bytes.count - position >= wordBytes.count, Array(bytes[position..<position + wordBytes.count]) == wordBytes {
                    position += wordBytes.count
                    return value
                }
            }
            throw Failure(message: "unexpected character at byte \(position)")
        }
    }

    private mutating func parseString() throws -> String {
        let quote = bytes[position]
        position += 1
        var content: [UInt8] = []
        while let byte = peek(), byte != quote {
            guard byte != 0x0A else { throw Failure(message: "unterminated string") }
            if byte == UInt8(ascii: "\\") {
                position += 1
                guard let escaped = peek() else { break }
                content.append(escaped)
            } else {
                content.append(byte)
            }
            position += 1
        }
        guard peek() == quote else { throw Failure(message: "unterminated string") }
        position += 1
        if utf8 { return String(decoding: content, as: UTF8.self) }
        return String(String.UnicodeScalarView(content.map { Unicode.Scalar($0) }))
    }

    private mutating func parseInteger() throws -> Int {
        var negative = false
        if peek() == UInt8(ascii: "-") || peek() == UInt8(ascii: "+") {
            negative = peek() == UInt8(ascii: "-")
            position += 1
        }
        var value = 0
        var digits = 0
        while let byte = peek(), byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { throw Failure(message: "integer too large at byte \(position)") }
            value = sum
            digits += 1
            position += 1
        }
        guard digits > 0 else { throw Failure(message: "expected digits at byte \(position)") }
        if peek() == UInt8(ascii: "L") { position += 1 }  // Python 2 long, as old numpy wrote it
        return negative ? -value : value
    }

    private mutating func enter() throws {
        depth += 1
        guard depth <= 16 else { throw Failure(message: "nesting too deep") }
    }

    private mutating func parseSequence(closing: UInt8) throws -> [PythonLiteral] {
        try enter()
        defer { depth -= 1 }
        position += 1
        var items: [PythonLiteral] = []
        while true {
            skipWhitespace()
            if peek() == closing { position += 1; return items }
            items.append(try parseValue())
            skipWhitespace()
            if peek() == UInt8(ascii: ",") { position += 1; continue }
            try expect(closing)
            return items
        }
    }

    private mutating func parseDictionary() throws -> PythonLiteral {
        try enter()
        defer { depth -= 1 }
        position += 1
        var entries: [(key: String, value: PythonLiteral)] = []
        while true {
            skipWhitespace()
            if peek() == UInt8(ascii: "}") { position += 1; return .dictionary(entries) }
            guard let byte = peek(), byte == UInt8(ascii: "'") || byte == UInt8(ascii: "\"") else {
                throw Failure(message: "expected a string key at byte \(position)")
            }
            let key = try parseString()
            guard !entries.contains(where: { $0.key == key }) else { throw Failure(message: "duplicate key '\(key)'") }
            try expect(UInt8(ascii: ":"))
            entries.append((key, try parseValue()))
            skipWhitespace()
            if peek() == UInt8(ascii: ",") { position += 1; continue }
            try expect(UInt8(ascii: "}"))
            return .dictionary(entries)
        }
    }
}
