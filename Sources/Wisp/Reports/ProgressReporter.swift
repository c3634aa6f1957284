import Foundation

/// Progress lines on stderr for long runs: silent for the first `delay` seconds, then at most
/// one line per `interval`, each with the elapsed time and an ETA when one is known. Only
/// the process given `enabled` (rank 0) prints.
public final class ProgressReporter {
    public let label: String
    private let enabled: Bool
    private let start = DispatchTime.now().uptimeNanoseconds
    private var lastPrint: Double = -1
    private let delay: Double
    private let interval: Double

    public init(label: String, enabled: Bool = true, delay: Double = 2, interval: Double = 1) {
        self.label = label
        self.enabled = enabled
        self.delay = delay
        self.interval = interval
    }

    public var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 }

    /// Prints `message` (plus elapsed and ETA) if enough time has passed since the last line.
    public func report(_ message: @autoclosure () -> String, eta: Double? = nil, force: Bool = false) {
        guard enabled else { return }
        let t = elapsed
        guard force || (t >= delay && t - lastPrint >= interval) else { return }
        lastPrint = t
        var line = "[\(label)] \(message()), elapsed \(Self.duration(t))"
        if let eta, eta.isFinite, eta >= 0 { line += ", ETA \(Self.duration(eta))" }
        // A failed progress line (stderr closed or full) is dropped: it must not stop the run.
        StandardStream.write(line + "\n", to: 2)
    }

    static func duration(_ s: Double) -> String {
        s < 120 ? String(format: "%.1f s", s) : String(format: "%dm%02ds", Int(s) / 60, Int(s) % 60)
    }
}
