import DeepMixture
import Engine
import Mixture
import Training

/// The jobs this executable serves: a worker computes tasks of these, and nothing else.
enum ServedJobs {
    /// Every job `emfleet worker` computes.
    static var registry: JobRegistry {
        var jobs = JobRegistry()
        jobs.register(MixtureJob.self)
        jobs.register(TrainingJob.self)
        jobs.register(KMeansJob.self)
        jobs.register(DAGMMJob.self)
        jobs.register(ColumnRangeJob.self)
        return jobs
    }
}
