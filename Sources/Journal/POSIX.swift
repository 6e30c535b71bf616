#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Thin wrappers over the system calls the journal needs, so durability is explicit: nothing is
/// buffered in user space, every `fsync` is visible here. Each failure becomes a `JournalError`
/// naming the call, the file and errno.
enum POSIX {
    static func error(_ call: String, _ path: String, _ code: Int32 = errno) -> JournalError {
        JournalError(code: .io, file: lastComponent(path), reason: "\(call) failed: \(String(cString: strerror(code))) (errno \(code))")
    }

    static func lastComponent(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }

    static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// `open(2)`, retried on EINTR; always `O_CLOEXEC`.
    static func openFile(_ path: String, _ flags: Int32, mode: mode_t = 0o644) throws(JournalError) -> Int32 {
        while true {
            let fd = open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw error("open", path) }
        }
    }

    static func closeFile(_ fd: Int32) { _ = close(fd) }

    /// Writes all of `bytes` at `offset` (loops over short writes and EINTR).
    static func pwriteAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws(JournalError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw error("pwrite", path)
            }
            done += n
        }
    }

    static func pwriteAll(_ fd: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws(JournalError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(JournalError) in try pwriteAll(fd, raw, at: offset, path: path) }
        }
        try result.get()
    }

    static func sync(_ fd: Int32, path: String) throws(JournalError) {
        while fsync(fd) != 0 {
            if errno != EINTR { throw error("fsync", path) }
        }
    }

    /// fsync of a directory, which makes creations, renames and deletions in it durable.
    static func fsyncDirectory(_ directory: String) throws(JournalError) {
        let fd = try openFile(directory, O_RDONLY | O_DIRECTORY)
        defer { closeFile(fd) }
        try sync(fd, path: directory)
    }

    static func truncate(_ fd: Int32, to length: Int, path: String) throws(JournalError) {
        while ftruncate(fd, off_t(length)) != 0 {
            if errno != EINTR { throw error("ftruncate", path) }
        }
    }

    static func renameFile(_ from: String, _ to: String) throws(JournalError) {
        if rename(from, to) != 0 { throw error("rename to \(lastComponent(to))", from) }
    }

    /// `unlink(2)`; a file already gone is fine.
    static func removeFile(_ path: String) throws(JournalError) {
        if unlink(path) != 0, errno != ENOENT { throw error("unlink", path) }
    }

    static func fileSize(_ fd: Int32, path: String) throws(JournalError) -> Int {
        var info = stat()
        if fstat(fd, &info) != 0 { throw error("fstat", path) }
        return Int(info.st_size)
    }

    /// The whole file, read with `pread` (no Foundation buffering or size guesses).
    static func readFile(_ path: String) throws(JournalError) -> [UInt8] {
        let fd = try openFile(path, O_RDONLY)
        defer { closeFile(fd) }
        let size = try fileSize(fd, path: path)
        var failure: JournalError?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
            var done = 0
            while done < size {
                let n = pread(fd, buffer.baseAddress! + done, size - done, off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = error("pread", path)
                    break
                }
                if n == 0 { break }  // shrank while reading; keep what we have
                done += n
            }
            initialized = done
        }
        if let failure { throw failure }
        return bytes
    }

    /// Creates `path` and missing parents (mode 0755); existing directories are fine.
    static func makeDirectories(_ path: String) throws(JournalError) {
        var current = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o755) != 0, errno != EEXIST { throw error("mkdir", current) }
        }
    }

    /// Names in `directory` (without "." and "..").
    static func listDirectory(_ directory: String) throws(JournalError) -> [String] {
        guard let dir = opendir(directory) else { throw error("opendir", directory) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: Int(NAME_MAX) + 1) { String(cString: $0) }
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    /// Takes an exclusive `flock` on `path` (created if missing) without waiting; returns the fd
    /// that holds it (closing it releases the lock, as does the process dying).
    static func lockFile(_ path: String) throws(JournalError) -> Int32 {
        let fd = try openFile(path, O_RDWR | O_CREAT)
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EINTR { continue }
            let code = errno
            closeFile(fd)
            if code == EWOULDBLOCK {
                throw JournalError(
                    code: .locked, file: lastComponent(path),
                    reason: "the journal directory is already open (by this or another process)",
                    remedy: "only one journal may use a directory at a time")
            }
            throw error("flock", path, code)
        }
        return fd
    }
}
