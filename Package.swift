// swift-tools-version: 6.0
import Foundation
import PackageDescription

// The MPI library, chosen at build time: OpenMPI by default (Debian libopenmpi-dev,
// libscalapack-openmpi-dev); `WISP_MPI=mpich swift build …` builds against MPICH (libmpich-dev,
// libscalapack-mpich-dev), the MPI that Cray MPICH, Intel MPI and MVAPICH derive from. Build each
// in its own --scratch-path. README "Dependencies, and why".
let mpi = ProcessInfo.processInfo.environment["WISP_MPI"].flatMap { $0.isEmpty ? nil : $0 } ?? "openmpi"
guard mpi == "openmpi" || mpi == "mpich" else { fatalError("WISP_MPI must be openmpi or mpich (got '\(mpi)')") }
let mpich = mpi == "mpich"

let package = Package(
    name: "Wisp",
    products: [
        .library(name: "Wisp", targets: ["Wisp"]),
        .executable(name: "wisp", targets: ["wisp"]),
        .executable(name: "wisp-bench", targets: ["wisp-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.0.0"),
    ],
    targets: [
        // C interop: module maps and shim headers only, found through pkg-config.
        .systemLibrary(
            name: "CLAPACK",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev", "liblapacke-dev"])]
        ),
        mpich
            ? .systemLibrary(name: "CMPICH", pkgConfig: "mpich", providers: [.apt(["libmpich-dev", "mpich"])])
            : .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
        // ScaLAPACK for that MPI. The MPICH build links it by name only: Debian's
        // scalapack-mpich.pc requires mpi.pc, which is OpenMPI's.
        mpich
            ? .systemLibrary(name: "CScaLAPACKMPICH", providers: [.apt(["libscalapack-mpich-dev"])])
            : .systemLibrary(name: "CScaLAPACK", pkgConfig: "scalapack-openmpi", providers: [.apt(["libscalapack-openmpi-dev"])]),
        .systemLibrary(
            name: "CFFTW",
            pkgConfig: "fftw3",
            providers: [.apt(["libfftw3-dev"])]
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // The engine: model -> differentiation -> operators -> solvers -> reports.
        .target(
            name: "Wisp",
            dependencies: [
                "CLAPACK",
                "CFFTW",
                "CZlib",
                .product(name: "RealModule", package: "swift-numerics"),
            ],
            plugins: ["BuildInfo"]
        ),
        // Build-time facts baked into the engine: the git commit (every record names it).
        .plugin(
            name: "BuildInfo",
            capability: .buildTool(),
            path: "Sources/BuildInfo"
        ),
        // The MPI implementation of the engine's Communicator and the ScaLAPACK eigensolver:
        // the only Swift code that calls MPI (or BLACS/ScaLAPACK, which run on it).
        .target(
            name: "WispMPI",
            dependencies: mpich ? ["Wisp", "CMPICH", "CScaLAPACKMPICH"] : ["Wisp", "CMPI", "CScaLAPACK"],
            swiftSettings: mpich ? [.define("WISP_MPICH")] : []
        ),
        // The command-line tool: a thin layer of argument parsing over the engine.
        .executableTarget(
            name: "wisp",
            dependencies: [
                "Wisp",
                "WispMPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Benchmark harness: Fisher-product throughput against the machine's measured GEMM peak.
        .executableTarget(
            name: "wisp-bench",
            dependencies: ["Wisp"],
            path: "Sources/wisp-bench"
        ),
        // Dense reference builders (explicit Jacobians, LAPACK eigensolves) for tests only.
        .target(
            name: "WispTestSupport",
            dependencies: ["Wisp", "CLAPACK"],
            path: "Tests/WispTestSupport"
        ),
        .testTarget(
            name: "WispTests",
            // `wisp` is a dependency so the CLI tests can run the built binary.
            dependencies: ["Wisp", "WispMPI", "WispTestSupport", "CLAPACK", "wisp"]
        ),
    ]
)
