import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Networks given as layers (``LayerArchitecture``) in safetensors files: θ under the
/// PyTorch state-dict names and shapes the layers declare (``LayerSequence/parameterNames``,
/// ``Layer/parameterTensors``: `0.weight` [out, in, kh, kw] for a `Conv2d`, `3.body.0.bias`
/// inside a residual block, …), F64 or F32, and the architecture description itself, as its
/// canonical JSON text, in the file's `__metadata__` under ``architectureKey``, so that the file
/// alone rebuilds the network.
///
/// Loading checks the tensors against the architecture by name: a tensor the layers declare
/// but the file lacks, a tensor the file holds but no layer declares, or a shape that
/// disagrees is one error naming the file, the layer (its state-dict prefix and kind) and both
/// shapes; a NaN or ±∞ entry is an error naming the tensor and the entry. Cost: one read of
/// the file (``SafeTensorsFile/read(path:)``, its size checked against memory first) and one
/// copy of θ.
public enum LayerModelFile {
    /// The metadata key of the architecture description.
    public static let architectureKey = "wisp.architecture"

    /// One tensor of θ: its state-dict name, the layer that owns it, and its place in θ.
    public struct Slot: Equatable, Sendable {
        /// "3.body.0.weight".
        public var name: String
        /// The owning layer's state-dict prefix ("3.body.0") and kind ("conv2d").
        public var layer: String
        public var kind: String
        public var shape: [Int]
        /// The tensor's first index in θ.
        public var offset: Int
        public var count: Int { shape.reduce(1, *) }
    }

    /// Every tensor of θ for `architecture`, in θ's order.
    public static func slots(_ architecture: LayerArchitecture) throws -> [Slot] {
        var slots: [Slot] = []
        var offset = 0
        collect(try architecture.makeLayers(as: Double.self), prefix: "", into: &slots, offset: &offset)
        return slots
    }

    private static func collect(_ layers: [any Layer<Double>], prefix: String, into slots: inout [Slot], offset: inout Int) {
        for (i, layer) in layers.enumerated() {
            if let r = layer as? Residual<Double> {
                collect(r.bodyLayers, prefix: "\(prefix)\(i).body.", into: &slots, offset: &offset)
                if let p = r.projection { collect([p], prefix: "\(prefix)\(i).projection", into: &slots, offset: &offset, single: true) }
            } else {
                for t in layer.parameterTensors {
                    slots.append(Slot(name: "\(prefix)\(i).\(t.name)", layer: "\(prefix)\(i)", kind: layer.kind, shape: t.shape, offset: offset))
                    offset += t.count
                }
            }
        }
    }

    /// A projection's tensors are named `<i>.projection.weight`: no index of its own.
    private static func collect(_ layers: [any Layer<Double>], prefix: String, into slots: inout [Slot], offset: inout Int, single: Bool) {
        for t in layers[0].parameterTensors {
            slots.append(Slot(name: "\(prefix).\(t.name)", layer: prefix, kind: layers[0].kind, shape: t.shape, offset: offset))
            offset += t.count
        }
    }

    /// A model read from a file: the architecture it holds θ for, θ (widened to Double, as
    /// stored), and what the file held.
    public struct Loaded: Sendable {
        public var architecture: LayerArchitecture
        public var parameters: [Double]
        /// The tensors' dtypes ("F32", "F64", or "F32 and F64").
        public var dtype: String
        /// Whether the file recorded the architecture (a Wisp file) or not (a plain state dict).
        public var recordsArchitecture: Bool
    }

    /// Reads θ for `architecture` from `path`; with `architecture` nil, the file's recorded
    /// description is used (an error when it records none). When both exist they must be the
    /// same description (``LayerArchitecture`` equality: the same layers and hyperparameters,
    /// as parsed), else one error naming the file.
    public static func load(path: String, architecture given: LayerArchitecture?, architectureFile: String? = nil) throws -> Loaded {
        var file = try SafeTensorsFile.read(path: path)
        let name = printable(path)
        var recorded: LayerArchitecture? = nil
        if let text = file.metadata[architectureKey] {
            recorded = try LayerArchitecture.parse(Data(text.utf8), name: "\(name) (metadata \(architectureKey))")
        }
        guard let architecture = given ?? recorded else {
            throw WispError.invalidConfiguration("\(name) records no architecture (no '\(architectureKey)' metadata): give the layers with \(Setting.architecture) FILE.json")
        }
        if let given, let recorded, given != recorded {
            throw WispError.invalidConfiguration("\(name) records an architecture that differs from \(architectureFile.map(printable) ?? "the one given") (\(firstDifference(recorded, given))): give \(Setting.model) alone to use the file's, or a file saved for this architecture")
        }
        let slots = try Self.slots(architecture)
        var tensors = file.tensors
        file.tensors = [:]
        let declared = Set(slots.map(\.name))
        if let extra = tensors.keys.sorted(by: numericAwareLess).first(where: { !declared.contains($0) }) {
            throw WispError.badInput("\(name): tensor '\(printable(extra))' \(tensors[extra]!.shape) belongs to no layer of the architecture\(owner(of: extra, slots: slots, architecture: architecture)) (it declares \(slots.count) tensors: \(slots.prefix(6).map(\.name).joined(separator: ", "))\(slots.count > 6 ? ", …" : ""))")
        }
        for slot in slots {
            guard let t = tensors[slot.name] else {
                throw WispError.badInput("\(name): layer \(slot.layer) (\(slot.kind)): missing tensor '\(slot.name)' of shape \(slot.shape)")
            }
            guard t.shape == slot.shape else {
                throw WispError.badInput("\(name): layer \(slot.layer) (\(slot.kind)): '\(slot.name)' has shape \(t.shape) in the file but the architecture needs \(slot.shape)")
            }
        }
        let total = slots.reduce(0) { $0 + $1.count }
        try MemoryBudget.allocation("the parameters of \(name)", count: total)
        var theta = [Double](repeating: 0, count: total)
        var dtypes = Set<String>()
        for slot in slots {
            let t = tensors.removeValue(forKey: slot.name)!
            if let bad = t.values.firstIndex(where: { !$0.isFinite }) {
                throw WispError.nonFinite("\(name): layer \(slot.layer) (\(slot.kind)): '\(slot.name)' entry \(bad) is \(t.values[bad])")
            }
            theta.replaceSubrange(slot.offset..<(slot.offset + slot.count), with: t.values)
            dtypes.insert(t.dtype.rawValue)
        }
        return Loaded(architecture: architecture, parameters: theta, dtype: dtypes.sorted().joined(separator: " and "),
                      recordsArchitecture: recorded != nil)
    }

    /// Writes θ (in θ's order for `architecture`) under the state-dict names, as `dtype`, with
    /// the description in the metadata, atomically (``SafeTensorsFile/write(to:)``).
    public static func save(_ parameters: [Double], architecture: LayerArchitecture, to path: String,
                            dtype: SafeTensorDType = .f64) throws {
        let slots = try Self.slots(architecture)
        precondition(parameters.count == slots.reduce(0) { $0 + $1.count }, "θ does not match the architecture")
        var tensors = [String: SafeTensor]()
        for slot in slots {
            tensors[slot.name] = SafeTensor(dtype: dtype, shape: slot.shape, values: Array(parameters[slot.offset..<(slot.offset + slot.count)]))
        }
        let metadata = [architectureKey: CanonicalJSON.text(architecture.jsonValue), "wisp_version": wispVersion]
        try AtomicFile.createDirectory(forFile: path)
        try SafeTensorsFile(tensors: tensors, metadata: metadata).write(to: path)
    }

    /// Whether the safetensors file at `path` records an architecture, from its header alone
    /// (8 bytes and the JSON header, never the tensors). False for anything unreadable: the
    /// reader that then opens it reports why.
    public static func recordsArchitecture(path: String) -> Bool {
        guard let (fd, size) = try? InputFile.openRegular(path, holdInMemory: false) else { return false }
        defer { close(fd) }
        func readExactly(_ n: Int) -> [UInt8]? {
            var bytes = [UInt8](repeating: 0, count: n)
            var done = 0
            while done < n {
                let got = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + done, n - done) }
                if got <= 0 { return nil }
                done += got
            }
            return bytes
        }
        guard size >= 8, let head = readExactly(8) else { return false }
        let n = head.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
        guard n <= UInt64(min(size - 8, 100_000_000)), let header = readExactly(Int(n)),
              let object = try? JSONSerialization.jsonObject(with: Data(header)) as? [String: Any],
              let metadata = object["__metadata__"] as? [String: Any] else { return false }
        return metadata[architectureKey] is String
    }

    /// The layer a stray tensor name points at, when its index is one ("layer 1 is relu, which has no parameters").
    private static func owner(of tensor: String, slots: [Slot], architecture: LayerArchitecture) -> String {
        guard let first = tensor.split(separator: ".").first, let i = Int(first), i >= 0, i < architecture.layers.count else { return "" }
        let spec = architecture.layers[i]
        return slots.contains(where: { $0.layer == "\(i)" || $0.layer.hasPrefix("\(i).") })
            ? " (layer \(i) is \(spec.kind), whose tensors are \(slots.filter { $0.layer == "\(i)" || $0.layer.hasPrefix("\(i).") }.map(\.name).joined(separator: ", ")))"
            : " (layer \(i) is \(spec.kind), which has no parameters)"
    }

    /// Where two descriptions first differ, in words.
    static func firstDifference(_ a: LayerArchitecture, _ b: LayerArchitecture) -> String {
        if a.input != b.input { return "input \(a.input) there, \(b.input) here" }
        if a.layers.count != b.layers.count { return "\(a.layers.count) layers there, \(b.layers.count) here" }
        let i = a.layers.indices.first { a.layers[$0] != b.layers[$0] } ?? 0
        return "layer \(i): \(CanonicalJSON.text(LayerArchitecture(input: a.input, layers: [a.layers[i]]).jsonValue.layer0)) there, \(CanonicalJSON.text(LayerArchitecture(input: b.input, layers: [b.layers[i]]).jsonValue.layer0)) here"
    }
}

private extension JSONValue {
    /// The first element of "layers" of a description's JSON.
    var layer0: JSONValue {
        if case .object(let o) = self, case .array(let l)? = o["layers"], let first = l.first { return first }
        return self
    }
}
