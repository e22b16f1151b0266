import Foundation
import Numerics
import Testing

@Suite("Processor affinity")
struct ProcessorAffinityTests {
    @Test("CPU lists parse as taskset -c writes them; anything else is refused")
    func parsing() {
        #expect(ProcessorAffinity.parse("3") == [3])
        #expect(ProcessorAffinity.parse("0,2") == [0, 2])
        #expect(ProcessorAffinity.parse("4-7") == [4, 5, 6, 7])
        #expect(ProcessorAffinity.parse("6,0-1,1") == [0, 1, 6])
        for bad in ["", "a", "1,", "-1", "3-1", "1-2-3", "0x1", "1 2"] {
            #expect(ProcessorAffinity.parse(bad) == nil, "'\(bad)'")
        }
    }

    @Test("workers that take every allowed CPU get disjoint CPUs of their own; otherwise none are dealt")
    func dealing() throws {
        let allowed = ProcessorAffinity.allowed()
        #expect(!allowed.isEmpty && allowed == allowed.sorted())
        #expect(ProcessorAffinity.deal(workers: 1, threads: allowed.count) == nil)
        #expect(ProcessorAffinity.deal(workers: allowed.count + 1, threads: 1) == nil)
        if allowed.count > 1 {
            let dealt = try #require(ProcessorAffinity.deal(workers: allowed.count, threads: 1))
            #expect(dealt == allowed.map { [$0] })
        }
        if allowed.count >= 4, allowed.count % 2 == 0 {
            let dealt = try #require(ProcessorAffinity.deal(workers: allowed.count / 2, threads: 2))
            #expect(dealt.map(\.count) == Array(repeating: 2, count: allowed.count / 2))
            #expect(Set(dealt.joined()) == Set(allowed))
        }
        if allowed.count > 2 {
            #expect(ProcessorAffinity.deal(workers: 2, threads: 1) == nil)  // cores to spare
        }
    }

    @Test("pinning to every allowed CPU keeps the same set; a CPU outside it is refused, naming it")
    func pinning() throws {
        let allowed = ProcessorAffinity.allowed()
        try ProcessorAffinity.pin(to: allowed)
        #expect(ProcessorAffinity.allowed() == allowed)
        let outside = (allowed.last ?? 0) + 1
        #expect { try ProcessorAffinity.pin(to: [outside]) } throws: { error in
            "\(error)".contains("CPUs \(outside) are not all among")
        }
    }
}
