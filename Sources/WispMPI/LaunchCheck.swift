import Foundation

/// Launches that would run a job N times instead of once on N ranks: the launcher started N > 1
/// processes but this process's MPI world has one rank, so each would run the whole job alone
/// and all would write the same output and checkpoint files.
///
/// - `srun` without a PMI plugin (`--mpi=none`, the default on many sites): srun sets
///   `SLURM_STEP_ID` and `SLURM_STEP_NUM_TASKS` in every task of a job step (the batch script
///   itself has neither).
/// - A binary built against one MPI started by another's launcher (an MPICH build under
///   OpenMPI's `mpirun`, or the reverse): the launcher's own size variable
///   (`OMPI_COMM_WORLD_SIZE`, `PMI_SIZE`) says N while MPI_Init made a singleton.
public enum LaunchCheck {
    /// The one-line refusal when a launcher says this process is one of several but its MPI
    /// world (`worldSize`) has one rank; nil otherwise.
    public static func singletonRefusal(worldSize: Int,
                                        environment env: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard worldSize == 1 else { return nil }
        if env["SLURM_STEP_ID"] != nil, let tasks = env["SLURM_STEP_NUM_TASKS"].flatMap(Int.init), tasks > 1 {
            return "Slurm started this step as \(tasks) tasks (SLURM_STEP_NUM_TASKS=\(tasks)) but MPI sees 1 rank, "
                + "so each task would run the whole job alone and write the same files: launch with "
                + "`srun --mpi=pmix` (or your site's plugin, `srun --mpi=list`)"
        }
        for key in ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE"] {
            if let n = env[key].flatMap(Int.init), n > 1 {
                return "the launcher started \(n) processes (\(key)=\(n)) but MPI sees 1 rank, so each would run the whole job "
                    + "alone: this wisp was built against \(builtAgainst), so start it with that MPI's mpirun "
                    + "(or rebuild with WISP_MPI=\(builtAgainst == "MPICH" ? "openmpi" : "mpich"))"
            }
        }
        return nil
    }

    /// Whether this process should print a launch refusal: the launcher's first process, or a
    /// process outside any launcher (the others exit silently, so the job log has one line).
    public static func isFirstProcess(environment env: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        for key in ["SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK"] {
            if let r = env[key].flatMap(Int.init) { return r == 0 }
        }
        return true
    }

    /// The MPI this binary was built against (Package.swift, `WISP_MPI`).
    public static var builtAgainst: String {
        #if WISP_MPICH
        return "MPICH"
        #else
        return "OpenMPI"
        #endif
    }
}
