import Cluster
import Datasets
import Engine
import Foundation
import Mixture
import Numerics
import Testing

/// Workers whose OpenBLAS kernel differs from the coordinator's: told to switch when their CPU
/// can, refused when it cannot, admitted with a warning under `--allow-mixed-kernels`.
@Suite("OpenBLAS kernels of workers")
struct KernelPolicyTests {
    @Test("by default one that can switch is told to, one that cannot is refused naming both kernels; the flag admits both",
          arguments: [false, true])
    func policy(allowMixed: Bool) throws {
        let clock = ManualClock()
        let transport = InMemoryTransport(clock: clock)
        var options = CoordinatorOptions(endpoint: transport.endpoint)
        options.minWorkers = 1
        options.messageLimit = MixtureJob.messageLimit(largestShard: 200, columns: 3)
        options.allowMixedKernels = allowMixed
        let data = CoordinatorTests.data
        let spec = JobSpec(path: "in-memory", csv: CSVOptions(), rows: data.rows, columns: data.columns, shards: CoordinatorTests.shards,
                           fingerprint: "fingerprint", stream: false)
        let events = EventRecorder()
        let coordinator = try ClusterCoordinator(options: options, spec: spec, transport: transport, clock: clock) { events.record($0) }
        let same = SimulatedWorker(name: "same", data: data, jobs: CoordinatorTests.jobs)
        let switcher = SimulatedWorker(name: "switcher", data: data, jobs: CoordinatorTests.jobs)
        switcher.blasCore = "Elsewhere"
        switcher.runnableCores = ["Elsewhere", BLAS.coreName]
        let stuck = SimulatedWorker(name: "stuck", data: data, jobs: CoordinatorTests.jobs)
        stuck.blasCore = "Elsewhere"
        stuck.runnableCores = ["Elsewhere"]
        for worker in [same, switcher, stuck] { transport.add(worker) }
        let model = try MixtureFitter(runner: coordinator, options: CoordinatorTests.fitOptions).fit()
        // The simulated workers all compute with this process's kernel, so the bits agree either way.
        #expect(model.parameters == (try CoordinatorTests.reference(CoordinatorTests.fitOptions)).parameters)
        let switched = events.all.contains { event in
            if case let .kernelSwitch(label, core, required) = event { return label.contains("switcher") && core == "Elsewhere" && required == BLAS.coreName }
            return false
        }
        let refused = events.all.contains { event in
            if case let .workerRefused(label, reason) = event {
                return label.contains("stuck") && reason.contains("OpenBLAS kernel Elsewhere") && reason.contains("coordinator's \(BLAS.coreName)")
                    && reason.contains("--allow-mixed-kernels")
            }
            return false
        }
        let warned = events.all.filter { event in
            if case .blasMismatch = event { return true }
            return false
        }
        if allowMixed {
            #expect(!switched && !refused && warned.count == 2)
            #expect(switcher.shardsComputed > 0 && stuck.shardsComputed > 0)
        } else {
            #expect(switched && refused && warned.isEmpty, "\(events.all)")
            #expect(switcher.shardsComputed == 0 && stuck.shardsComputed == 0 && same.shardsComputed > 0)
        }
    }
}
