/// Distances between two spectral measures on the real line, each given as point masses
/// Σ w_i δ(λ − x_i) (an SLQ quadrature, an exact spectrum, a density on a grid).
///
/// Wasserstein-1: W₁(μ, ν) = ∫ |F_μ(λ) − F_ν(λ)| dλ with F the cumulative distributions
/// (Villani, Optimal Transport, Thm 6.0.2 for the line), computed exactly for point masses by
/// one sweep over the merged sorted support. O((m + n) log(m + n)).
public enum SpectralDistance {
    /// W₁ between two measures of equal total mass (each normalized to 1 first).
    public static func wasserstein1(_ a: (nodes: [Double], weights: [Double]), _ b: (nodes: [Double], weights: [Double])) -> Double {
        let ta = a.weights.reduce(0, +), tb = b.weights.reduce(0, +)
        guard ta > 0, tb > 0 else { return 0 }
        var events = [(x: Double, dw: Double)]()
        events.reserveCapacity(a.nodes.count + b.nodes.count)
        for (x, w) in zip(a.nodes, a.weights) { events.append((x, w / ta)) }
        for (x, w) in zip(b.nodes, b.weights) { events.append((x, -w / tb)) }
        events.sort { $0.x < $1.x }
        var distance = 0.0, difference = 0.0
        for i in events.indices {
            if i > 0 { distance += abs(difference) * (events[i].x - events[i - 1].x) }
            difference += events[i].dw
        }
        return distance
    }

    /// The measure restricted to x > `threshold`, mapped to log₁₀ x (for spectra spanning decades:
    /// W₁ of these is in decades).
    public static func logPositivePart(_ m: (nodes: [Double], weights: [Double]), threshold: Double) -> (nodes: [Double], weights: [Double]) {
        var nodes = [Double](), weights = [Double]()
        for (x, w) in zip(m.nodes, m.weights) where x > threshold && w > 0 {
            nodes.append(Foundation.log10(x))
            weights.append(w)
        }
        return (nodes, weights)
    }
}

import Foundation
