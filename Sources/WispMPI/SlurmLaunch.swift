import Foundation

/// The launch that Slurm sites get wrong most: `srun` without a PMI plugin (`--mpi=none`, a
/// site's default on many clusters) starts N tasks that each see an MPI world of one rank, so
/// each runs the whole job alone and all write the same output and checkpoint files.
///
/// srun sets `SLURM_STEP_ID` and `SLURM_STEP_NUM_TASKS` in every task of a job step (the batch
/// script itself has neither), so N > 1 tasks in this step against an MPI world of one rank is
/// exactly that mistake.
public enum SlurmLaunch {
    /// The one-line refusal when this process is one of several Slurm tasks of a step but its
    /// MPI world (`worldSize`) has one rank; nil otherwise.
    public static func singletonRefusal(worldSize: Int,
                                        environment env: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard env["SLURM_STEP_ID"] != nil, let tasks = env["SLURM_STEP_NUM_TASKS"].flatMap(Int.init), tasks > 1,
              worldSize == 1 else { return nil }
        return "Slurm started this step as \(tasks) tasks (SLURM_STEP_NUM_TASKS=\(tasks)) but MPI sees 1 rank, "
            + "so each task would run the whole job alone and write the same files: launch with "
            + "`srun --mpi=pmix` (or your site's plugin, `srun --mpi=list`)"
    }

    /// Whether this process should print a launch refusal: Slurm's task 0, or any process
    /// outside Slurm (the other tasks exit silently, so the job log has one line).
    public static func isFirstTask(environment env: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        (env["SLURM_PROCID"].flatMap(Int.init) ?? 0) == 0
    }
}
