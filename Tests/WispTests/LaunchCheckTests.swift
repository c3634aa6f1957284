import Foundation
import XCTest
import WispMPI
import WispTestSupport

/// `srun` without a PMI plugin (or a binary of one MPI under the other's launcher) starts N tasks that each see an MPI world of one rank: Wisp must
/// refuse to run as N singletons (each would run the whole job and write the same files), with
/// one line from task 0 and a non-zero exit from every task. The batch script's own shell (Slurm
/// task count set, no step) and a real MPI world are not refused. The real launch is checked by
/// `cluster/slurm-local.sh test` (run by .ci/run).
final class LaunchCheckTests: XCTestCase {
    let step = ["SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "2", "SLURM_NTASKS": "2"]

    func testRefusalNamesTheTaskCountOnlyForSingletonsOfAStep() {
        let refusal = LaunchCheck.singletonRefusal(worldSize: 1, environment: step)
        XCTAssertNotNil(refusal)
        XCTAssertTrue(refusal!.contains("SLURM_STEP_NUM_TASKS=2") && refusal!.contains("--mpi=pmix"), refusal!)
        // A real MPI world of 2 ranks, a one-task step, and the batch script (no step) run.
        XCTAssertNil(LaunchCheck.singletonRefusal(worldSize: 2, environment: step))
        XCTAssertNil(LaunchCheck.singletonRefusal(worldSize: 1, environment: ["SLURM_STEP_ID": "0", "SLURM_STEP_NUM_TASKS": "1"]))
        XCTAssertNil(LaunchCheck.singletonRefusal(worldSize: 1, environment: ["SLURM_NTASKS": "2", "SLURM_PROCID": "0"]))
        XCTAssertNil(LaunchCheck.singletonRefusal(worldSize: 1, environment: [:]))
        // A binary of one MPI under the other's launcher: the launcher's size against a singleton world.
        for key in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"] {
            let message = LaunchCheck.singletonRefusal(worldSize: 1, environment: [key: "4"])
            XCTAssertTrue(message?.contains("\(key)=4") == true && message?.contains(LaunchCheck.builtAgainst) == true, message ?? "nil")
            XCTAssertNil(LaunchCheck.singletonRefusal(worldSize: 4, environment: [key: "4"]))
        }
        XCTAssertTrue(LaunchCheck.isFirstProcess(environment: [:]))
        XCTAssertFalse(LaunchCheck.isFirstProcess(environment: ["OMPI_COMM_WORLD_RANK": "2"]))
        XCTAssertFalse(LaunchCheck.isFirstProcess(environment: ["PMI_RANK": "1"]))
    }

    func testSingletonTasksExitWithOneLineFromTaskZeroAndWriteNothing() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wisp-slurm-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("top.json").path
        let arguments = ["top", "--width", "8", "--samples", "4", "--k", "1", "--quiet", "--output", output]
        let first = try WispExecutable.child(WispExecutable.url, arguments, environment: step.merging(["SLURM_PROCID": "0"]) { a, _ in a })
        XCTAssertEqual(first.status, 1)
        XCTAssertEqual(first.stderr.split(separator: "\n").count, 1, first.stderr)
        XCTAssertTrue(first.stderr.hasPrefix("wisp: error: Slurm started this step as 2 tasks"), first.stderr)
        let second = try WispExecutable.child(WispExecutable.url, arguments, environment: step.merging(["SLURM_PROCID": "1"]) { a, _ in a })
        XCTAssertEqual(second.status, 1)
        XCTAssertEqual(second.stderr, "", "only task 0 prints")
        XCTAssertFalse(FileManager.default.fileExists(atPath: output))
        // The batch script's shell: Slurm's task count without a step runs normally.
        let batch = try WispExecutable.child(WispExecutable.url, arguments, environment: ["SLURM_NTASKS": "2", "SLURM_PROCID": "0"])
        XCTAssertEqual(batch.status, 0, batch.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output))
    }
}
