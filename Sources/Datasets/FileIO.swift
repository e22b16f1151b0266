#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns C return codes from file calls into ``DatasetError``s, in one place.
///
/// Retries `EINTR`; anything else becomes an error naming the file and the call.
enum POSIXFile {
    /// A one-line reason for the current `errno`, phrased for a user.
    static func reason(_ code: Int32) -> String {
        switch code {
        case ENOENT: return "no such file"
        case EACCES, EPERM: return "permission denied"
        case EISDIR: return "is a directory, expected a file"
        case ENOSPC: return "no space left on the device"
        default: return String(cString: strerror(code))
        }
    }

    static func error(_ path: String, _ action: String?, code: Int32 = errno) -> DatasetError {
        let reason = reason(code)
        return DatasetError(file: path, message: action.map { "cannot \($0): \(reason)" } ?? reason)
    }
}

/// A file open for reading with positioned reads (`pread`), closed when released.
///
/// No memory mapping: a file that shrinks while it is read gives a short read and so a
/// ``DatasetError``, never a `SIGBUS`.
final class ReadableFile {
    let path: String
    private let descriptor: Int32

    /// Opens `path` for reading; throws if it is missing, unreadable or a directory.
    init(path: String) throws {
        self.path = path
        var fd: Int32
        repeat { fd = open(path, O_RDONLY) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw POSIXFile.error(path, nil) }
        descriptor = fd
        var info = stat()
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw DatasetError(file: path, message: POSIXFile.reason(EISDIR))
        }
    }

    deinit { close(descriptor) }

    /// The file's current size in bytes.
    /// The file's size and last modification time, to tell whether it changed.
    func identity() throws -> String {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw POSIXFile.error(path, "stat") }
        return "\(info.st_dev):\(info.st_ino):\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec)"
    }

    func size() throws -> Int {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw POSIXFile.error(path, "read the file size") }
        return Int(info.st_size)
    }

    /// Reads up to `buffer.count` bytes at `offset`; returns how many were read (fewer only at the end of the file).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var done = 0
        while done < buffer.count {
            // Linux transfers at most about 2 GiB per call; ask for 1 GiB at a time.
            let ask = min(buffer.count - done, 1 << 30)
            let got = pread(descriptor, base + done, ask, off_t(offset + done))
            if got < 0 {
                if errno == EINTR { continue }
                throw POSIXFile.error(path, "read")
            }
            if got == 0 { break }
            done += got
        }
        return done
    }

    /// Asks the kernel to start reading `length` bytes at `offset` into the page cache, without
    /// waiting (read-ahead for the next chunk of a file-backed shard); a hint, so failures are ignored.
    func adviseWillNeed(offset: Int, length: Int) {
        _ = posix_fadvise(descriptor, off_t(offset), off_t(length), Int32(POSIX_FADV_WILLNEED))
    }

    /// Reads exactly `buffer.count` bytes at `offset`, or throws "changed while being read".
    func readExactly(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws {
        let got = try read(into: buffer, at: offset)
        guard got == buffer.count else {
            throw DatasetError(
                file: path,
                message: "changed while being read: expected \(buffer.count) bytes at offset \(offset), got \(got); was the file overwritten or truncated?"
            )
        }
    }

    /// Calls `body` with successive chunks of the file from byte `start`, until `body` returns `false` or the file ends.
    func forEachChunk(from start: Int = 0, size chunkSize: Int = 1 << 20, _ body: (UnsafeRawBufferPointer) throws -> Bool) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var offset = start
        while true {
            let got = try read(into: buffer, at: offset)
            if got == 0 { return }
            offset += got
            guard try body(UnsafeRawBufferPointer(rebasing: buffer[0..<got])) else { return }
        }
    }
}

/// `write(2)`, reachable from inside a type that has its own `write` methods.
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    write(descriptor, bytes, count)
}

/// Writes a file atomically: into a temporary file in the same folder, renamed over the
/// target only when everything was written, so a failed write never leaves a corrupt file.
///
/// Package API: the model and checkpoint writers of the other library targets use it too.
package final class AtomicFileWriter {
    package let path: String
    private let temporaryPath: String
    private var descriptor: Int32
    private var buffer: [UInt8] = []
    private static let bufferLimit = 1 << 20

    private init(path: String) throws {
        self.path = path
        let folder: String
        let name: String
        if let slash = path.lastIndex(of: "/") {
            folder = String(path[...slash])
            name = String(path[path.index(after: slash)...])
        } else {
            folder = ""
            name = path
        }
        guard !name.isEmpty else { throw DatasetError(file: path, message: "is a folder name, expected a file name") }
        temporaryPath = "\(folder).\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var fd: Int32
        repeat { fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL, 0o666) } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw POSIXFile.error(path, "create the file") }
        descriptor = fd
        buffer.reserveCapacity(Self.bufferLimit)
    }

    deinit {
        if descriptor >= 0 {
            close(descriptor)
            unlink(temporaryPath)
        }
    }

    /// Runs `body` with a writer for `path`, then publishes the file; on any error nothing is left behind.
    package static func write(to path: String, _ body: (AtomicFileWriter) throws -> Void) throws {
        let writer = try AtomicFileWriter(path: path)
        try body(writer)
        try writer.commit()
    }

    /// Appends raw bytes.
    package func write(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > Self.bufferLimit { try flush() }
        if bytes.count >= Self.bufferLimit {
            try writeToDescriptor(bytes)
        } else {
            buffer.append(contentsOf: bytes)
        }
    }

    /// Appends bytes.
    package func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Appends the UTF-8 bytes of `text`.
    package func write(_ text: String) throws {
        var text = text
        try text.withUTF8 { try write(UnsafeRawBufferPointer($0)) }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeToDescriptor($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeToDescriptor(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let wrote = systemWrite(descriptor, base + done, min(bytes.count - done, 1 << 30))
            if wrote < 0 {
                if errno == EINTR { continue }
                throw POSIXFile.error(path, "write")
            }
            done += wrote
        }
    }

    private func commit() throws {
        try flush()
        let fd = descriptor
        descriptor = -1
        guard close(fd) == 0 else {
            let code = errno
            unlink(temporaryPath)
            throw POSIXFile.error(path, "write", code: code)
        }
        guard rename(temporaryPath, path) == 0 else {
            let code = errno
            unlink(temporaryPath)
            throw POSIXFile.error(path, "replace the file", code: code)
        }
    }
}

/// Checks, before a command does any work, that it will be able to write its outputs.
///
/// A job that would fail only when it first writes (a checkpoint after its first M-step, the
/// model at its end) fails at once instead, naming the path and the option:
///
/// ```
/// /no/such/m.json: cannot write --out: the folder /no/such does not exist
/// ```
public enum OutputLocation {
    /// Throws unless a file can be created at `path`: its folder exists, is a folder and takes
    /// new files, and `path` itself is not a folder.
    ///
    /// - Parameter option: the option that named the path, for the message (`--out`).
    /// - Throws: `DatasetError` naming `path`.
    public static func checkFile(_ path: String, option: String) throws {
        func refuse(_ reason: String) -> DatasetError { DatasetError(file: path, message: "cannot write \(option): \(reason)") }
        guard !path.isEmpty else { throw DatasetError(file: path, message: "\(option) is empty; give a file name") }
        if path.hasSuffix("/") || kind(of: path) == .folder { throw refuse("it is a folder; give a file name") }
        let folder = folderOf(path)
        switch kind(of: folder) {
        case .missing: throw refuse("the folder \(folder) does not exist")
        case .other: throw refuse("\(folder) is not a folder")
        case .folder: try probe(folder, refuse)
        }
    }

    /// Throws unless `path` is a folder that takes new files, or can be made as one (its nearest
    /// existing ancestor is a folder that takes new files).
    ///
    /// - Throws: `DatasetError` naming `path`.
    public static func checkFolder(_ path: String, option: String) throws {
        func refuse(_ reason: String) -> DatasetError { DatasetError(file: path, message: "cannot write \(option): \(reason)") }
        guard !path.isEmpty else { throw DatasetError(file: path, message: "\(option) is empty; give a folder") }
        var existing = path
        while kind(of: existing) == .missing {
            let parent = folderOf(existing)
            if parent == existing { break }
            existing = parent
        }
        switch kind(of: existing) {
        case .folder: try probe(existing, refuse)
        case .other: throw refuse(existing == path ? "it is a file, not a folder" : "\(existing) is not a folder")
        case .missing: throw refuse("no folder of it exists")
        }
    }

    private enum Kind { case missing, folder, other }

    private static func kind(of path: String) -> Kind {
        var info = stat()
        guard stat(path, &info) == 0 else { return errno == ENOTDIR ? .other : .missing }
        return (info.st_mode & S_IFMT) == S_IFDIR ? .folder : .other
    }

    /// The folder holding `path`: "." for a bare name, "/" at the root.
    private static func folderOf(_ path: String) -> String {
        var trimmed = Substring(path)
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed = trimmed.dropLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }

    /// Creates and removes a file in `folder`: the only test that sees permissions, read-only
    /// file systems and quotas as the writer will.
    private static func probe(_ folder: String, _ refuse: (String) -> DatasetError) throws {
        let name = "\(folder)/.emfleet-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        var fd: Int32
        repeat { fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0o600) } while fd < 0 && errno == EINTR
        guard fd >= 0 else {
            let code = errno
            throw refuse("the folder \(folder) does not take new files (\(code == EROFS ? "read-only file system" : POSIXFile.reason(code)))")
        }
        close(fd)
        unlink(name)
    }
}
