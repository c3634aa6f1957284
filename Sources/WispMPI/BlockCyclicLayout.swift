/// One dimension of ScaLAPACK's block-cyclic layout: indices 0..<n cut into blocks of `block`,
/// block b on process b mod `processes` (the first block on process 0). Global index g lives
/// on process (g / block) mod P at local index (g / (block·P))·block + g mod block; a process's
/// indices, ascending, have consecutive local indices 0, 1, 2, … (so a local array lists them in
/// global order).
struct BlockCyclicLayout: Equatable {
    let n: Int
    let block: Int
    let processes: Int

    /// The process that owns global index `g`.
    func owner(_ g: Int) -> Int { (g / block) % processes }

    /// The local index of global index `g` on its owner.
    func localIndex(_ g: Int) -> Int { (g / (block * processes)) * block + g % block }

    /// How many indices process `p` owns (ScaLAPACK's numroc with the source on process 0).
    func count(_ p: Int) -> Int {
        let blocks = n / block
        var c = (blocks / processes) * block
        let extra = blocks % processes
        if p < extra { c += block } else if p == extra { c += n % block }
        return c
    }

    /// The global indices process `p` owns, ascending.
    func indices(of p: Int) -> [Int] {
        var result: [Int] = []
        result.reserveCapacity(count(p))
        var start = p * block
        while start < n {
            result.append(contentsOf: start..<min(start + block, n))
            start += block * processes
        }
        return result
    }
}
