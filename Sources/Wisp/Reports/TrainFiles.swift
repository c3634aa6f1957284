import Foundation

/// The CSV and SVG files of `wisp train`, written atomically into its output directory.
public enum TrainFiles {
    /// Writes `text` to `directory/name` atomically and returns the path.
    private static func file(_ text: String, _ name: String, in directory: String) throws -> String {
        let path = directory + "/" + name
        try AtomicFile.createDirectory(forFile: path)
        try AtomicFile.write(Data(text.utf8), to: path)
        return path
    }

    /// Per-checkpoint files: `grid-step-N.csv/.svg` (loss plane), `rayleigh-step-N.csv/.svg`
    /// (Rayleigh quotients), `spectrum-step-N.csv/.svg` (density). Returns the paths written.
    @discardableResult
    public static func writeCheckpoint(_ r: CheckpointRecord, directory: String) throws -> [String] {
        var written = [String]()
        func write(_ text: String, _ name: String) throws { written.append(try file(text, name, in: directory)) }
        let tag = String(format: "step-%09d", r.step)
        if let g = r.grid {
            try write(g.csv, "grid-\(tag).csv")
            try write(g.svg(title: "loss around θ at step \(r.step) (Jacot et al. Fig. 3)"), "grid-\(tag).svg")
        }
        if let q = r.rayleigh {
            var csv = "eigenvectors_of,index,eigenvalue,residual,rayleigh_g,rayleigh_s\n"
            for (name, dirs) in [("G", q.gDirections), ("S", q.sDirections)] {
                for (i, d) in dirs.enumerated() { csv += "\(name),\(i + 1),\(d.eigenvalue),\(d.residual),\(d.quotientG),\(d.quotientS)\n" }
            }
            try write(csv, "rayleigh-\(tag).csv")
            func panel(_ title: String, _ dirs: [RayleighQuotients.Direction]) -> SeriesPlot.Panel {
                let x = dirs.indices.map { Double($0 + 1) }
                return SeriesPlot.Panel(title: title, curves: [
                    SeriesPlot.Curve(label: "|yᵀ G y|", x: x, y: dirs.map { abs($0.quotientG) }),
                    SeriesPlot.Curve(label: "|yᵀ S y|", x: x, y: dirs.map { abs($0.quotientS) }),
                ], logY: true)
            }
            try write(SeriesPlot.svg(title: "Rayleigh quotients at step \(r.step) (Jacot et al. Fig. 2)",
                                     panels: [panel("eigenvectors y of G", q.gDirections), panel("eigenvectors y of S", q.sDirections)],
                                     xLabel: "eigenvector index"), "rayleigh-\(tag).svg")
        }
        if let s = r.spectrum {
            try write(DensityFiles.csv(s.density), "spectrum-\(tag).csv")
            let width = s.density.scale == .log ? "\(s.density.broadening)-decade" : "\(s.density.broadening)-span"
            try write(DensityFiles.svg(s.density, title: "spectral density of \(s.densityOf) (\(s.matrix.rawValue)) at step \(r.step): SLQ \(s.probes)×\(s.steps), \(width) Gaussians",
                                       markers: [("largest SLQ node", s.largestNode)]),
                      "spectrum-\(tag).svg")
        }
        return written
    }

    /// The time series: `train.csv` (one row per checkpoint), `loss.csv` (every step),
    /// `loss.svg`, `moments.svg` (Jacot et al. Fig. 1: tr(Aᵏ)/P of G, S, H against the step)
    /// `spectra.svg` with `spectra.csv` and `spectra-nodes.csv` (the first, middle and last
    /// checkpoints' spectra against λ/λ_max, Cowlagi & Chaudhari Fig. 2: ``TrainSpectraFigure``)
    /// and `alignment.csv`/`.svg` (A_l through training, Lou et al. Fig. 2).
    /// Returns the paths written.
    public static func writeSeries(_ result: TrainResult, directory: String) throws -> [String] {
        var written = [String]()
        func write(_ text: String, _ name: String) throws { written.append(try file(text, name, in: directory)) }
        let series = result.series
        var header = ["step", "loss", "accuracy", "gradient_norm"]
        if result.validation != nil { header += ["validation_loss", "validation_accuracy"] }
        let matrices = series.first?.moments?.matrices.map(\.matrix) ?? []
        for m in matrices { for k in 1...4 { header += ["\(m.rawValue)_m\(k)", "\(m.rawValue)_m\(k)_se"] } }
        if series.first?.moments != nil { for k in 1...4 { header += ["additivity_gap_m\(k)", "additivity_gap_m\(k)_se"] } }
        if series.first?.rayleigh != nil { header += ["g_lambda_1", "g_lambda_1_rayleigh_s", "s_lambda_1", "s_lambda_1_rayleigh_g"] }
        if series.first?.spectrum != nil { header += ["spectrum_largest_node", "spectrum_m1"] }
        if series.first?.alignment != nil { header += ["peak_layer", "peak_alignment"] }
        var csv = header.joined(separator: ",") + "\n"
        for r in series {
            var row = ["\(r.step)", "\(r.loss)", r.accuracy.map { "\($0)" } ?? "", "\(r.gradientNorm)"]
            if result.validation != nil { row += [r.validationLoss.map { "\($0)" } ?? "", r.validationAccuracy.map { "\($0)" } ?? ""] }
            if let m = r.moments {
                for mm in m.matrices { for rec in mm.moments { row += ["\(rec.estimate)", "\(rec.standardError)"] } }
                for g in m.additivityGap { row += ["\(g.mean)", "\(g.standardError)"] }
            }
            if let q = r.rayleigh, let g = q.gDirections.first, let s = q.sDirections.first {
                row += ["\(g.eigenvalue)", "\(g.quotientS)", "\(s.eigenvalue)", "\(s.quotientG)"]
            }
            if let s = r.spectrum { row += ["\(s.largestNode)", "\(s.moments.first?.estimate ?? .nan)"] }
            if let a = r.alignment { row += ["\(a.peakLayer)", "\(a.peakAlignment)"] }
            csv += row.joined(separator: ",") + "\n"
        }
        try write(csv, "train.csv")
        try write("step,loss\n" + result.lossCurve.map { "\($0.step),\($0.loss)" }.joined(separator: "\n") + "\n", "loss.csv")
        var lossCurves = [SeriesPlot.Curve(label: "loss", x: result.lossCurve.map { Double($0.step) }, y: result.lossCurve.map(\.loss))]
        let held = series.filter { $0.validationLoss != nil }
        if !held.isEmpty {
            lossCurves.append(SeriesPlot.Curve(label: "validation loss", x: held.map { Double($0.step) }, y: held.map { $0.validationLoss! }))
        }
        try write(SeriesPlot.svg(title: "training loss (\(result.method))", panels: [SeriesPlot.Panel(title: "loss", curves: lossCurves, logY: true)],
                                 xLabel: "step"), "loss.svg")
        if series.first?.moments != nil {
            let x = series.map { Double($0.step) }
            let panels = (1...4).map { k in
                var curves = matrices.enumerated().map { (i, m) in
                    let label = ["ggn": "I = G (Gauss–Newton)", "residual": "S (residual)", "hessian": "H = I + S"][m.rawValue] ?? m.rawValue
                    return SeriesPlot.Curve(label: label, x: x, y: series.map { $0.moments!.matrices[i].moments[k - 1].estimate },
                                            error: series.map { $0.moments!.matrices[i].moments[k - 1].standardError })
                }
                if let limit = result.ntkLimit?.moments {
                    curves.append(SeriesPlot.Curve(label: "I, NTK limit", x: x, y: x.map { _ in limit[k - 1] }))
                }
                return SeriesPlot.Panel(title: "tr(A^\(k))/P", curves: curves)
            }
            try write(SeriesPlot.svg(title: "moments of the Hessian's parts through training (Jacot et al. Fig. 1)", panels: panels,
                                     xLabel: "step"), "moments.svg")
        }
        if series.contains(where: { $0.alignment != nil }) {
            try write(AlignmentSeriesFiles.csv(series), "alignment.csv")
            if let svg = AlignmentSeriesFiles.svg(series, title: "layerwise alignment A_l with the targets through training (Lou et al. Fig. 2)") {
                try write(svg, "alignment.svg")
            }
        }
        // The first, middle and last checkpoints, as in Cowlagi & Chaudhari's Fig. 2.
        let all = series.compactMap { r in r.spectrum.map { (r.step, $0) } }
        let spectra = all.count <= 3 ? all : [all[0], all[all.count / 2], all[all.count - 1]]
        if let first = spectra.first?.1 {
            let grid = DensitySettings(scale: first.density.scale, broadening: first.density.broadening)
            let measures = spectra.compactMap { (step, s) in
                s.nodes.flatMap { n in s.weights.map { TrainSpectraFigure.Spectrum(step: step, nodes: n, weights: $0, probes: s.probes) } }
            }
            if measures.count == spectra.count {
                try write(TrainSpectraFigure.svg(measures, grid: grid, what: first.densityOf,
                                                 method: "SLQ, \(first.probes) probes × \(first.steps) Lanczos steps"), "spectra.svg")
                try write(TrainSpectraFigure.densityCSV(measures, grid: grid), "spectra.csv")
                try write(TrainSpectraFigure.nodesCSV(measures, grid: grid), "spectra-nodes.csv")
            } else {
                // Records from before the nodes were kept (a resumed older run): the densities as measured.
                let curves = spectra.map { (step, s) -> SeriesPlot.Curve in
                    let top = max(s.largestNode, 1e-300)
                    return SeriesPlot.Curve(label: "step \(step)", x: s.density.grid.map { $0 / top }, y: s.density.density)
                }
                try write(SeriesPlot.svg(title: "spectral density of \(first.densityOf) through training (SLQ, Gaussians of \(first.density.broadening))", panels: [
                    SeriesPlot.Panel(title: "density (zero mass not shown)", curves: curves, density: true, logX: first.density.scale == .log),
                ], xLabel: "λ / λ_max", columns: 1), "spectra.svg")
            }
        }
        return written
    }
}
