/// The windows of a 2-D pooling layer (PyTorch's `AvgPool2d`/`MaxPool2d` geometry, no
/// dilation, `ceil_mode=False`): output position (p_h, p_w) covers input rows
/// s_h·p_h − pad_h … s_h·p_h − pad_h + kh − 1 (likewise columns), OH = ⌊(H + 2·pad_h − kh)/s_h⌋ + 1.
/// As in PyTorch, the padding is at most half the kernel, so every window holds a real pixel.
struct PoolingWindow: Sendable {
    let input: TensorShape
    let output: TensorShape
    let kernel: (height: Int, width: Int)
    let stride: (height: Int, width: Int)
    let padding: (height: Int, width: Int)

    init(kind: String, input: TensorShape, kernel: (Int, Int), stride: (Int, Int)?, padding: (Int, Int)) throws {
        guard input.isImage, input.isValid else {
            throw WispError.invalidConfiguration("\(kind) takes an image input [channels, height, width] but receives \(input)")
        }
        let stride = stride ?? kernel
        guard kernel.0 >= 1, kernel.1 >= 1 else { throw WispError.invalidConfiguration("\(kind) kernel_size must be at least 1 (got \(kernel))") }
        guard stride.0 >= 1, stride.1 >= 1 else { throw WispError.invalidConfiguration("\(kind) stride must be at least 1 (got \(stride))") }
        guard padding.0 >= 0, padding.1 >= 0, padding.0 <= kernel.0 / 2, padding.1 <= kernel.1 / 2 else {
            throw WispError.invalidConfiguration("\(kind) padding must be between 0 and half the kernel size (got \(padding) for kernel \(kernel))")
        }
        try TensorShape.checkSize("\(kind) window", kernel.0, kernel.1)
        let (h, w) = (input.height + 2 * padding.0, input.width + 2 * padding.1)
        guard h >= kernel.0, w >= kernel.1 else {
            throw WispError.invalidConfiguration("\(kind) kernel \(kernel.0)×\(kernel.1) is larger than the padded input \(h)×\(w) (input \(input))")
        }
        self.input = input
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        output = .image(channels: input.channels, height: (h - kernel.0) / stride.0 + 1, width: (w - kernel.1) / stride.1 + 1)
    }

    /// Calls `body(outputIndex, inputIndex)` for every output element of one sample and, in
    /// row-major window order, every input pixel inside its window (indices within the sample).
    @inline(__always)
    func forEachTap(_ body: (Int, Int) -> Void) {
        let (C, H, W) = (input.channels, input.height, input.width)
        let (OH, OW) = (output.height, output.width)
        for c in 0..<C {
            for ph in 0..<OH {
                for pw in 0..<OW {
                    let o = (c * OH + ph) * OW + pw
                    for i in 0..<kernel.height {
                        let r = ph * stride.height + i - padding.height
                        if r < 0 || r >= H { continue }
                        for j in 0..<kernel.width {
                            let q = pw * stride.width + j - padding.width
                            if q < 0 || q >= W { continue }
                            body(o, (c * H + r) * W + q)
                        }
                    }
                }
            }
        }
    }

    /// Multiply-adds of one pass over n samples: one per tap.
    func taps(batch n: Int) -> Double {
        Double(n) * Double(output.count) * Double(kernel.height * kernel.width)
    }
}
