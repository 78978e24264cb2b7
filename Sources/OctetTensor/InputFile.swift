import Foundation

/// A path given as an input that is not a regular file: a FIFO (reading it blocks until some
/// other process writes), a device, a socket or a folder where a file was expected.
public struct InputFileError: LocalizedError, Equatable {
    /// The path as given.
    public let file: String
    /// What the path is instead.
    public let kind: String

    public var errorDescription: String? { "\(file): is \(kind), not a regular file; Octet reads inputs from regular files" }

    /// Throws unless `url` is a regular file (or a link to one) or does not exist (then the
    /// reader's own "cannot read" error follows). Checked before opening, so a FIFO named
    /// `x.npy` fails at once instead of blocking the open.
    /// - Parameter url: an input path.
    public static func requireRegular(_ url: URL) throws {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return }
        let kind: String
        switch info.st_mode & S_IFMT {
        case S_IFREG: return
        case S_IFIFO: kind = "a FIFO (named pipe)"
        case S_IFCHR, S_IFBLK: kind = "a device"
        case S_IFSOCK: kind = "a socket"
        case S_IFDIR: kind = "a folder"
        default: kind = "not a file"
        }
        throw InputFileError(file: url.path, kind: kind)
    }
}
