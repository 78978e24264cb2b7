import Foundation
internal import ONNXProto
internal import SwiftProtobuf
#if canImport(Glibc)
import Glibc
#endif

/// Loading a model with its main graph's initializers decoded one at a time: the protobuf wire
/// format is scanned in the mapped file for the graph's initializer fields (only their headers'
/// pages are touched), the rest of the model (nodes, inputs, small fields) is parsed without
/// them, and each initializer is read into a buffer of its own (`pread`, not through the
/// mapping), converted and freed. Parsing the whole message at once would hold the mapped file
/// and a copy of every weight together (twice the weights at the peak); this holds about one
/// copy. Any structure the scan does not expect returns `nil`, and the caller
/// parses the whole message as before (so malformed files get the same errors).
enum InitializerStream {
    /// The model in `file`, or `nil` when the scan does not apply.
    static func load(_ file: MappedFile, decoder: ONNXDecoder) throws -> Model? {
        guard var layout = Layout(file.bytes) else { return nil }
        // Worth it only when the initializers hold most of the file (weights in Constant nodes
        // stay in the parsed part).
        let initializerBytes = layout.initializers.reduce(0) { $0 + $1.count }
        guard initializerBytes >= file.bytes.count / 2 else { return nil }
        var stripped: Onnx_ModelProto
        do {
            var options = BinaryDecodingOptions()
            options.messageDepthLimit = 200
            stripped = try Onnx_ModelProto(serializedBytes: layout.strippedModel, options: options)
        } catch {
            return nil
        }
        layout.strippedModel = Data()
        guard stripped.irVersion > 0, stripped.hasGraph else { return nil }
        var model = try decoder.model(&stripped)
        var initializers: [GraphTensor] = []
        initializers.reserveCapacity(layout.initializers.count)
        for range in layout.initializers {
            let proto: Onnx_TensorProto
            do {
                guard let bytes = file.read(range) else { return nil }
                proto = try Onnx_TensorProto(serializedBytes: bytes)
            } catch {
                return nil
            }
            initializers.append(try decoder.tensor(proto, context: proto.name))
        }
        model.graph.initializers = initializers
        return model
    }

    /// Where the graph's initializers lie in a serialized ModelProto, and the model's bytes
    /// without them.
    struct Layout {
        /// Byte ranges of each initializer message (field 5 of GraphProto), in file order.
        var initializers: [Range<Int>] = []
        /// The ModelProto re-encoded with the graph's initializer fields left out.
        var strippedModel = Data()

        init?(_ bytes: UnsafeRawBufferPointer) {
            var graphs = 0
            var reader = WireReader(bytes, range: 0..<bytes.count)
            while !reader.atEnd {
                guard let field = reader.next() else { return nil }
                guard field.number == 7, field.wireType == 2 else {
                    strippedModel.append(contentsOf: bytes[field.whole])
                    continue
                }
                graphs += 1
                guard graphs == 1 else { return nil } // a repeated graph field is merged by protobuf: parse it whole
                var graph = Data()
                var inner = WireReader(bytes, range: field.payload)
                while !inner.atEnd {
                    guard let member = inner.next() else { return nil }
                    if member.number == 5, member.wireType == 2 {
                        initializers.append(member.payload)
                    } else {
                        graph.append(contentsOf: bytes[member.whole])
                    }
                }
                strippedModel.append(contentsOf: WireReader.varint(UInt64(7 << 3 | 2)))
                strippedModel.append(contentsOf: WireReader.varint(UInt64(graph.count)))
                strippedModel.append(graph)
            }
            guard graphs == 1 else { return nil }
        }
    }
}

/// Reads protobuf wire-format fields from a byte range: each field's number, wire type, whole
/// extent and (length-delimited) payload; `nil` on anything malformed or deprecated (groups).
struct WireReader {
    struct Field {
        var number: UInt64
        var wireType: UInt64
        /// Tag through the end of the value.
        var whole: Range<Int>
        /// The value's bytes (for wire type 2, without the length).
        var payload: Range<Int>
    }

    private let bytes: UnsafeRawBufferPointer
    private var position: Int
    private let end: Int

    init(_ bytes: UnsafeRawBufferPointer, range: Range<Int>) {
        self.bytes = bytes
        position = range.lowerBound
        end = range.upperBound
    }

    var atEnd: Bool { position >= end }

    mutating func next() -> Field? {
        let start = position
        guard let tag = readVarint(), tag >> 3 > 0 else { return nil }
        let (number, wireType) = (tag >> 3, tag & 7)
        let payloadStart: Int
        let length: Int
        switch wireType {
        case 0:
            guard readVarint() != nil else { return nil }
            return Field(number: number, wireType: wireType, whole: start..<position, payload: start..<position)
        case 1: (payloadStart, length) = (position, 8)
        case 5: (payloadStart, length) = (position, 4)
        case 2:
            guard let size = readVarint(), size <= UInt64(end - position) else { return nil }
            (payloadStart, length) = (position, Int(size))
        default: return nil
        }
        guard length <= end - payloadStart else { return nil }
        position = payloadStart + length
        return Field(number: number, wireType: wireType, whole: start..<position, payload: payloadStart..<position)
    }

    private mutating func readVarint() -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while position < end, shift < 64 {
            let byte = bytes[position]
            position += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return value }
            shift += 7
        }
        return nil
    }

    /// The varint encoding of `value`.
    static func varint(_ value: UInt64) -> [UInt8] {
        var value = value
        var result: [UInt8] = []
        repeat {
            let low = UInt8(value & 0x7F)
            value >>= 7
            result.append(value == 0 ? low : low | 0x80)
        } while value != 0
        return result
    }
}

/// A read-only memory mapping of a file, for scanning, and positioned reads of parts of it into
/// buffers of their own (which leave no pages of the file mapped).
final class MappedFile {
    private let base: UnsafeMutableRawPointer?
    private let count: Int
    private let descriptor: Int32

    /// Maps `path`; `nil` when it cannot be opened or mapped (the caller reads it another way).
    init?(path: String) {
        descriptor = open(path, O_RDONLY)
        guard descriptor >= 0 else { return nil }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_size > 0 else {
            close(descriptor)
            return nil
        }
        count = Int(status.st_size)
        let address = mmap(nil, count, PROT_READ, MAP_PRIVATE, descriptor, 0)
        guard let address, address != MAP_FAILED else {
            close(descriptor)
            return nil
        }
        base = address
    }

    /// The whole file.
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    /// The bytes of `range`, read with `pread` into a new buffer; `nil` on a read error.
    func read(_ range: Range<Int>) -> Data? {
        guard range.lowerBound >= 0, range.upperBound <= count else { return nil }
        var data = Data(count: range.count)
        let complete = data.withUnsafeMutableBytes { buffer -> Bool in
            guard let target = buffer.baseAddress else { return range.isEmpty }
            var done = 0
            while done < range.count {
                let got = pread(descriptor, target + done, range.count - done, off_t(range.lowerBound + done))
                if got <= 0 { return false }
                done += got
            }
            return true
        }
        return complete ? data : nil
    }

    deinit {
        if let base { munmap(base, count) }
        close(descriptor)
    }
}
