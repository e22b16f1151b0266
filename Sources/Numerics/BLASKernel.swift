import Foundation

/// Makes sure OpenBLAS runs its fast kernels on CPUs it does not recognise.
///
/// OpenBLAS picks its kernels from the CPU model number when the library loads. Older
/// builds (Debian 12 ships 0.3.21) do not know newer Xeon models, or the generic model a
/// virtual machine reports, and fall back to the SSE3 "Prescott" kernels, which run matrix
/// products six to ten times slower. The choice is made before `main` runs and can only be
/// changed through the `OPENBLAS_CORETYPE` variable, so the program re-executes itself once
/// with that variable set from the instruction sets the CPU does report.
public enum BLASKernel {
    /// Kernels OpenBLAS falls back to when it does not recognise the CPU.
    public static let fallbackKernels: Set<String> = ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom", "unknown"]

    /// The kernel family the CPU's reported instruction sets support best, if any beats the fallback.
    public static func bestKernelForThisCPU() -> String? {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return nil }
        let flags = Set(flagsLine.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).map(String.init))
        if ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"].allSatisfy(flags.contains) { return "SkylakeX" }
        if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
        return nil
    }

    /// The OpenBLAS kernel families (`OPENBLAS_CORETYPE` names) this CPU's reported instruction
    /// sets can run, oldest first; a coordinator asks a worker to switch only to one of these.
    public static func runnableKernelsOnThisCPU() -> [String] {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return [] }
        let flags = Set(flagsLine.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }).map(String.init))
        let families: [(String, [String])] = [
            ("Prescott", ["pni"]), ("Core2", ["ssse3"]), ("Penryn", ["sse4_1"]), ("Nehalem", ["sse4_2"]),
            ("Sandybridge", ["avx"]), ("Haswell", ["avx2", "fma"]), ("Zen", ["avx2", "fma"]),
            ("SkylakeX", ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"]),
            ("Cooperlake", ["avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd", "avx512_bf16"]),
        ]
        return families.filter { $0.1.allSatisfy(flags.contains) }.map(\.0)
    }

    /// Re-executes the current program with `OPENBLAS_CORETYPE=kernel`, once: the coordinator
    /// asked this worker to compute with its kernel. Returns only when that is impossible (it was
    /// done already and OpenBLAS still runs another kernel, or `execv` failed), with the reason.
    public static func reexecute(withKernel kernel: String) -> String {
        let marker = "EMFLEET_KERNEL_REEXECUTED"
        if ProcessInfo.processInfo.environment[marker] != nil {
            return "re-executed with OPENBLAS_CORETYPE=\(kernel), but OpenBLAS runs \(BLAS.coreName)"
        }
        setenv("OPENBLAS_CORETYPE", kernel, 1)
        setenv(marker, kernel, 1)
        execSelf()
        return "could not re-execute itself with OPENBLAS_CORETYPE=\(kernel): \(String(cString: strerror(errno)))"
    }

    /// Replaces this process with the same program and arguments (its environment as set now);
    /// returns only if `execv` fails.
    private static func execSelf() {
        let arguments = CommandLine.arguments
        var cArguments = arguments.map { strdup($0) }
        cArguments.append(nil)
        // The resolved path, not /proc/self/exe itself: the process keeps its name ("emfleet",
        // not "exe") for ps, pgrep and the launch scripts.
        let path = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? "/proc/self/exe"
        execv(path, &cArguments)
        for pointer in cArguments { free(pointer) }
    }

    /// Re-executes the current program with `OPENBLAS_CORETYPE` set when OpenBLAS fell back to
    /// slow kernels on a CPU that supports fast ones. Returns normally when nothing needs doing
    /// (the variable is already set, OpenBLAS chose well, or re-execution is impossible).
    public static func reexecuteWithBestKernelIfNeeded() {
        let environment = ProcessInfo.processInfo.environment
        guard environment["OPENBLAS_CORETYPE"] == nil,
              fallbackKernels.contains(BLAS.coreName),
              let kernel = bestKernelForThisCPU()
        else { return }
        setenv("OPENBLAS_CORETYPE", kernel, 1)
        execSelf()
        // execSelf returned: execv failed. Carry on with the slow kernels rather than stop.
    }
}
