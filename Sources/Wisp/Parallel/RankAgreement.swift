/// Checks that every process of a launch runs the same job before the first collective that
/// depends on it.
///
/// An MPMD launch (`mpirun -np 1 wisp … : -np 1 wisp …`) or a node with another copy of a data
/// file can start processes whose settings or array shapes differ; their collectives then
/// exchange buffers of different lengths (MPI_ERR_TRUNCATE) or, worse, mix rows of different
/// data into one result. ``check(_:what:communicator:)`` compares a canonical description of
/// the settings or shapes: a 52-bit FNV-1a hash of it, min and max over the processes (two
/// allreduces of an int, whatever the description); only when they differ does rank 0's text
/// travel (one allgather) so that the first differing process can name the difference. Every
/// process calls it at the same point with the same number of collectives, so it can never
/// itself be the mismatched collective.
public enum RankAgreement {
    /// Collective. Throws on every process when any process's `fields` differ from rank 0's
    /// (the lowest differing rank reports, naming the first differing field).
    public static func check(_ fields: [(name: String, value: String)], what: String, communicator: any Communicator) throws {
        guard communicator.size > 1 else { return }
        let text = fields.map { "\($0.name)=\($0.value)" }.joined(separator: "\n")
        let hash = Self.hash(text)
        let low = communicator.allreduceMin(hash), high = -communicator.allreduceMin(-hash)
        guard low != high else { return }
        let lead = communicator.broadcastFromLead(Array(text.utf8).map(Double.init))
        let leadText = String(decoding: lead.map { UInt8($0) }, as: UTF8.self)
        try communicator.agree {
            guard leadText != text else { return }
            let leadFields = leadText.split(separator: "\n", omittingEmptySubsequences: false).map { line -> (String, String) in
                let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                return (String(parts[0]), parts.count > 1 ? String(parts[1]) : "")
            }
            var difference = "they differ"
            for i in 0..<max(leadFields.count, fields.count) {
                let mine = i < fields.count ? fields[i] : (name: leadFields[i].0, value: "(none)")
                let theirs = i < leadFields.count ? leadFields[i] : (mine.name, "(none)")
                if mine.name != theirs.0 || mine.value != theirs.1 {
                    difference = "\(mine.name) is \(mine.value) here but \(theirs.1) on rank 0"
                    break
                }
            }
            throw WispError.invalidConfiguration(
                "the processes of this launch disagree on the \(what): \(difference); every process must run the same command on data of the same shape")
        }
    }

    /// FNV-1a of the UTF-8 bytes, cut to 52 bits (non-negative, and its negation fits).
    static func hash(_ text: String) -> Int {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            h ^= UInt64(byte)
            h = h &* 0x100_0000_01b3
        }
        return Int(h & ((1 << 52) - 1))
    }
}
